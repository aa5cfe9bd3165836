//! CEL conditions over a statement: compiled once (with vouch's own limits on top of the
//! `cel` crate's parser), evaluated with the variables `predicate`, `predicateType`,
//! `subject` and `image`, within a deadline.
//!
//! Bounded cost: the source is short and shallow, it has few comprehensions, and no
//! comprehension body may read `predicate` (the one large variable), so loops cannot
//! multiply over the whole statement; what is left (string and list growth inside one
//! element) is cut off by [`EVALUATION_DEADLINE`]: a condition that takes longer is an
//! error, never a hang of the caller. A condition with no comprehension cannot loop at all
//! (CEL has no other loop, and each operator's result is at most the size of its operands),
//! so it runs on the caller's thread; only those with comprehensions go to the evaluator
//! thread that the deadline can abandon.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use cel::common::ast::{EntryExpr, Expr};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, Env, IdedExpr, Program, Value as CelValue};
use serde_json::Value;

/// Most bytes of a condition's source.
pub const MAX_SOURCE_BYTES: usize = 4096;
/// Deepest nesting of brackets and parentheses.
pub const MAX_NESTING: usize = 32;
/// Most comprehensions (`all`, `exists`, `exists_one`, `map`, `filter`) in one condition.
pub const MAX_COMPREHENSIONS: usize = 8;
/// Longest a condition may run on one statement.
pub const EVALUATION_DEADLINE: Duration = Duration::from_secs(1);

/// A compiled condition.
#[derive(Clone)]
pub struct Condition {
    source: String,
    program: Arc<Program>,
    /// True when it has a comprehension (a loop): evaluated under the deadline.
    loops: bool,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Condition {}

impl serde::Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// Why a condition does not compile: where (1-based line and column in the source) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct CompileError {
    /// 1-based line in the condition's source.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

fn at_start(message: impl Into<String>) -> CompileError {
    CompileError {
        line: 1,
        column: 1,
        message: message.into(),
    }
}

/// The variables a condition may read.
pub const VARIABLES: [&str; 4] = ["predicate", "predicateType", "subject", "image"];

impl Condition {
    /// Compiles `source`, refusing what could not be evaluated within bounds.
    pub fn compile(source: &str) -> Result<Condition, CompileError> {
        if source.len() > MAX_SOURCE_BYTES {
            return Err(at_start(format!(
                "the condition is {} bytes, more than the {MAX_SOURCE_BYTES}-byte limit",
                source.len()
            )));
        }
        check_nesting(source)?;
        let program = Program::compile(source).map_err(|errors| {
            let first = errors.errors.first();
            let (line, column) = first
                .map(|e| (e.pos.0.max(1) as usize, e.pos.1.max(0) as usize + 1))
                .unwrap_or((1, 1));
            CompileError {
                line,
                column,
                message: first.map_or_else(|| "syntax error".to_string(), |e| e.msg.clone()),
            }
        })?;
        let mut walk = Walk::default();
        walk.check(program.expression(), false).map_err(at_start)?;
        let references = program.references();
        for name in references.variables() {
            if !VARIABLES.contains(&name) && !walk.bound.iter().any(|b| b == name) {
                return Err(at_start(format!(
                    "unknown variable {name:?}: a condition reads {}",
                    VARIABLES.join(", ")
                )));
            }
        }
        Ok(Condition {
            source: source.to_string(),
            program: Arc::new(program),
            loops: walk.comprehensions > 0,
        })
    }

    /// The source as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the condition: `Ok(true)` passes, `Ok(false)` fails, `Err` says why it
    /// could not be evaluated (a missing field, a type error, not a boolean, too slow): all
    /// but `Ok(true)` fail closed.
    pub fn evaluate(&self, variables: &Variables) -> Result<bool, String> {
        if !self.loops {
            // No loop: linear in the expression and the statement, nothing to cut off.
            return run(&self.program, &variables.bound);
        }
        let job = Job {
            program: Arc::clone(&self.program),
            bound: Arc::clone(&variables.bound),
            reply: mpsc::channel(),
        };
        let (reply_tx, reply_rx) = job.reply;
        let sent = EVALUATOR.with(|slot| {
            let mut slot = slot.borrow_mut();
            if slot.is_none() {
                *slot = spawn_evaluator();
            }
            let Some(worker) = slot.as_ref() else {
                return Err("could not start the evaluation".to_string());
            };
            worker
                .send((job.program, job.bound, reply_tx))
                .map_err(|_| "the evaluator stopped".to_string())
        });
        if let Err(e) = sent {
            EVALUATOR.with(|slot| slot.borrow_mut().take());
            return Err(e);
        }
        match reply_rx.recv_timeout(EVALUATION_DEADLINE) {
            Ok(result) => result,
            Err(_) => {
                // The evaluator is stuck on this condition: abandon it, start afresh next time.
                EVALUATOR.with(|slot| slot.borrow_mut().take());
                Err(format!(
                    "the condition ran longer than {} ms and was abandoned",
                    EVALUATION_DEADLINE.as_millis()
                ))
            }
        }
    }
}

impl Condition {
    /// Evaluates on the calling thread, with no deadline: for benchmarks that separate the
    /// evaluation from the hand-off to the evaluator thread. Never use it to decide.
    #[doc(hidden)]
    pub fn evaluate_unbounded(&self, variables: &Variables) -> Result<bool, String> {
        run(&self.program, &variables.bound)
    }
}

type Reply = mpsc::Sender<Result<bool, String>>;
type Work = (Arc<Program>, Arc<Bound>, Reply);

struct Job {
    program: Arc<Program>,
    bound: Arc<Bound>,
    reply: (Reply, mpsc::Receiver<Result<bool, String>>),
}

thread_local! {
    /// Each calling thread's evaluator: a thread that runs conditions one at a time, so a
    /// deadline can abandon one without a thread spawned per evaluation.
    static EVALUATOR: std::cell::RefCell<Option<mpsc::Sender<Work>>> =
        const { std::cell::RefCell::new(None) };
}

/// The standard CEL environment, built once.
static ENV: std::sync::LazyLock<Arc<Env>> = std::sync::LazyLock::new(|| Arc::new(Env::stdlib()));

fn spawn_evaluator() -> Option<mpsc::Sender<Work>> {
    let (tx, rx) = mpsc::channel::<Work>();
    std::thread::Builder::new()
        .name("vouch-cel".into())
        .spawn(move || {
            for (program, bound, reply) in rx {
                let _ = reply.send(run(&program, &bound));
            }
        })
        .ok()?;
    Some(tx)
}

/// What a condition reads, converted to CEL values once per statement.
#[derive(Debug, Clone)]
pub struct Variables {
    bound: Arc<Bound>,
}

#[derive(Debug)]
struct Bound {
    predicate: Box<dyn Val>,
    predicate_type: Box<dyn Val>,
    subject: Box<dyn Val>,
    image: Box<dyn Val>,
}

impl VariableResolver for Bound {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let value: &'b dyn Val = match variable {
            "predicate" => &*self.predicate,
            "predicateType" => &*self.predicate_type,
            "subject" => &*self.subject,
            "image" => &*self.image,
            _ => return None,
        };
        Some(CowVal::Borrowed(value))
    }
}

impl Variables {
    /// Binds a statement's predicate, predicate type and subjects (JSON), and the image judged
    /// (`{"name": repository, "digest": "sha256:…"}`).
    pub fn new(
        predicate: &Value,
        predicate_type: &str,
        subject: &Value,
        image: &Value,
    ) -> Result<Variables, String> {
        let convert = |what: &str, value: &Value| -> Result<Box<dyn Val>, String> {
            cel::to_value(value)
                .map_err(|e| format!("{what} cannot be read by CEL: {e}"))?
                .try_into()
                .map_err(|e: cel::ExecutionError| format!("{what} cannot be read by CEL: {e}"))
        };
        let text: Box<dyn Val> = CelValue::from(predicate_type.to_string())
            .try_into()
            .map_err(|e: cel::ExecutionError| e.to_string())?;
        Ok(Variables {
            bound: Arc::new(Bound {
                predicate: convert("predicate", predicate)?,
                predicate_type: text,
                subject: convert("subject", subject)?,
                image: convert("image", image)?,
            }),
        })
    }
}

fn run(program: &Program, bound: &Bound) -> Result<bool, String> {
    let mut context = Context::with_env(Arc::clone(&ENV));
    context.set_variable_resolver(bound);
    match program.execute(&context) {
        Ok(CelValue::Bool(b)) => Ok(b),
        Ok(other) => Err(format!(
            "the condition gave {} instead of true or false",
            type_name(&other)
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn type_name(v: &CelValue) -> &'static str {
    match v {
        CelValue::Int(_) | CelValue::UInt(_) | CelValue::Float(_) => "a number",
        CelValue::String(_) => "a string",
        CelValue::List(_) => "a list",
        CelValue::Map(_) => "a map",
        CelValue::Null => "null",
        _ => "a value",
    }
}

fn check_nesting(source: &str) -> Result<(), CompileError> {
    let mut depth = 0usize;
    for (line_no, line) in source.split('\n').enumerate() {
        for (col, c) in line.chars().enumerate() {
            match c {
                '(' | '[' | '{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(CompileError {
                            line: line_no + 1,
                            column: col + 1,
                            message: format!("nested deeper than {MAX_NESTING} levels"),
                        });
                    }
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Counts comprehensions, notes the variables they bind, and refuses `predicate` inside a
/// comprehension's body.
#[derive(Default)]
struct Walk {
    comprehensions: usize,
    bound: Vec<String>,
}

impl Walk {
    fn check(&mut self, e: &IdedExpr, in_body: bool) -> Result<(), String> {
        check_expr(e, in_body, self)
    }
}

fn check_expr(e: &IdedExpr, in_body: bool, comprehensions: &mut Walk) -> Result<(), String> {
    match &e.expr {
        Expr::Ident(name) if in_body && name == "predicate" => Err(
            "a comprehension body may not read `predicate` (only its own element): bind the part it needs as the range instead"
                .to_string(),
        ),
        Expr::Comprehension(c) => {
            comprehensions.comprehensions += 1;
            comprehensions.bound.push(c.iter_var.clone());
            comprehensions.bound.extend(c.iter_var2.clone());
            comprehensions.bound.push(c.accu_var.clone());
            if comprehensions.comprehensions > MAX_COMPREHENSIONS {
                return Err(format!(
                    "more than {MAX_COMPREHENSIONS} comprehensions (all, exists, map, filter)"
                ));
            }
            check_expr(&c.iter_range, in_body, comprehensions)?;
            check_expr(&c.accu_init, in_body, comprehensions)?;
            for body in [&c.loop_cond, &c.loop_step, &c.result] {
                check_expr(body, true, comprehensions)?;
            }
            Ok(())
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                check_expr(target, in_body, comprehensions)?;
            }
            call.args
                .iter()
                .try_for_each(|a| check_expr(a, in_body, comprehensions))
        }
        Expr::Select(s) => check_expr(&s.operand, in_body, comprehensions),
        Expr::List(l) => l
            .elements
            .iter()
            .try_for_each(|a| check_expr(a, in_body, comprehensions)),
        Expr::Map(m) => m.entries.iter().try_for_each(|entry| match &entry.expr {
            EntryExpr::MapEntry(me) => {
                check_expr(&me.key, in_body, comprehensions)?;
                check_expr(&me.value, in_body, comprehensions)
            }
            EntryExpr::StructField(f) => check_expr(&f.value, in_body, comprehensions),
        }),
        Expr::Struct(s) => s.entries.iter().try_for_each(|entry| match &entry.expr {
            EntryExpr::MapEntry(me) => {
                check_expr(&me.key, in_body, comprehensions)?;
                check_expr(&me.value, in_body, comprehensions)
            }
            EntryExpr::StructField(f) => check_expr(&f.value, in_body, comprehensions),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(predicate: Value) -> Variables {
        Variables::new(
            &predicate,
            crate::predicate::VULN,
            &serde_json::json!([]),
            &serde_json::json!({"name": "reg/app", "digest": "sha256:00"}),
        )
        .expect("variables")
    }

    const NO_CRITICAL: &str = r#"predicate.scanner.result.Results.all(r, !has(r.Vulnerabilities) ||
  r.Vulnerabilities.all(v, v.Severity != "CRITICAL"))"#;

    #[test]
    fn a_critical_finding_fails_the_condition() {
        let c = Condition::compile(NO_CRITICAL).expect("compile");
        let clean = serde_json::json!({"scanner": {"result": {"Results": [{"Target": "x"}]}}});
        assert_eq!(c.evaluate(&vars(clean)), Ok(true));
        let critical = serde_json::json!({"scanner": {"result": {"Results": [
            {"Vulnerabilities": [{"Severity": "LOW"}, {"Severity": "CRITICAL"}]}]}}});
        assert_eq!(c.evaluate(&vars(critical)), Ok(false));
    }

    #[test]
    fn a_missing_field_fails_closed_with_the_reason() {
        let c = Condition::compile(
            r#"predicate.runDetails.builder.id.startsWith("https://github.com/acme/")"#,
        )
        .expect("compile");
        let e = c
            .evaluate(&vars(serde_json::json!({})))
            .expect_err("missing");
        assert!(e.contains("runDetails"), "{e}");
    }

    #[test]
    fn a_syntax_error_is_located() {
        let e = Condition::compile("predicate.a ==\n  && true").expect_err("syntax");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn a_runaway_condition_is_an_error_after_the_deadline_not_a_hang() {
        // Three nested loops over one element of 120 items: 1.7 million steps.
        let c =
            Condition::compile("predicate.a.all(x, x.all(i, x.all(j, x.all(k, i + j + k >= 0))))")
                .expect("compile");
        let items: Vec<i64> = (0..120).collect();
        let started = std::time::Instant::now();
        let e = c
            .evaluate(&vars(serde_json::json!({"a": [items]})))
            .expect_err("runaway");
        assert!(e.contains("abandoned"), "{e}");
        assert!(started.elapsed() < EVALUATION_DEADLINE * 3);
        // The next condition on this thread gets a fresh evaluator.
        let quick = Condition::compile("predicate.a.exists(x, size(x) > 0)").expect("compile");
        assert_eq!(
            quick.evaluate(&vars(serde_json::json!({"a": [[1]]}))),
            Ok(true)
        );
    }

    #[test]
    fn a_non_boolean_result_fails() {
        let c = Condition::compile("predicateType").expect("compile");
        assert!(c.evaluate(&vars(Value::Null)).is_err());
    }

    #[test]
    fn unknown_variables_and_quadratic_loops_are_refused() {
        assert!(Condition::compile("foo == 1").is_err());
        let e = Condition::compile("predicate.a.all(x, predicate.a.all(y, x == y))")
            .expect_err("quadratic");
        assert!(e.message.contains("comprehension body"), "{e}");
        assert!(Condition::compile(&"(".repeat(100)).is_err());
        assert!(Condition::compile(&"true && ".repeat(1000)).is_err());
    }
}
