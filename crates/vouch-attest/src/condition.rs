//! CEL conditions over a statement: compiled once (with vouch's own limits on top of the
//! `cel` crate's parser), evaluated with the variables `predicate`, `predicateType`,
//! `subject` and `image`, within a deadline.
//!
//! Bounded cost: the source is short and shallow, it has few comprehensions, and no
//! comprehension body may read `predicate` (the one large variable), so loops cannot
//! multiply over the whole statement; what is left (string and list growth inside one
//! element) is cut off by [`EVALUATION_DEADLINE`]: a condition that takes longer is an
//! error, never a hang of the caller.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use cel::common::ast::{EntryExpr, Expr};
use cel::{Context, IdedExpr, Program, Value as CelValue};
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
        let program = Arc::clone(&self.program);
        let bound = variables.clone();
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("vouch-cel".into())
            .spawn(move || {
                let _ = tx.send(run(&program, &bound));
            });
        if let Err(e) = spawned {
            return Err(format!("could not start the evaluation: {e}"));
        }
        match rx.recv_timeout(EVALUATION_DEADLINE) {
            Ok(result) => result,
            Err(_) => Err(format!(
                "the condition ran longer than {} ms and was abandoned",
                EVALUATION_DEADLINE.as_millis()
            )),
        }
    }
}

/// What a condition reads.
#[derive(Debug, Clone)]
pub struct Variables {
    /// The statement's predicate.
    pub predicate: Arc<Value>,
    /// The statement's predicate type.
    pub predicate_type: String,
    /// The statement's subjects as JSON.
    pub subject: Value,
    /// `{"name": repository, "digest": "sha256:…"}` of the image judged.
    pub image: Value,
}

fn run(program: &Program, v: &Variables) -> Result<bool, String> {
    let mut context = Context::default();
    let convert = |what: &str, value: &Value| {
        cel::to_value(value).map_err(|e| format!("{what} cannot be read by CEL: {e}"))
    };
    context.add_variable_from_value("predicate", convert("predicate", &v.predicate)?);
    context.add_variable_from_value("predicateType", v.predicate_type.clone());
    context.add_variable_from_value("subject", convert("subject", &v.subject)?);
    context.add_variable_from_value("image", convert("image", &v.image)?);
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
        Variables {
            predicate: Arc::new(predicate),
            predicate_type: crate::predicate::VULN.into(),
            subject: serde_json::json!([]),
            image: serde_json::json!({"name": "reg/app", "digest": "sha256:00"}),
        }
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
