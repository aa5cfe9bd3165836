//! Rule overlaps, decided exactly: rules that tie on some image (errors) and rules that can
//! never be selected (warnings). Candidate pairs come from a trie of literal prefixes, so a large
//! policy with distinct prefixes costs little; a global work budget bounds hostile input.

use crate::analysis::{self, Answer};
use crate::diag::{Diagnostic, Span};
use crate::glob::Pattern;
use crate::model::Rule;
use crate::util::quoted_list;
use std::collections::{BTreeSet, HashMap};

/// Units of work (candidates looked at, automaton steps) before giving up on the analysis.
const WORK_BUDGET: u64 = 20_000_000;

/// One pattern of one rule.
struct Entry<'a> {
    rule: usize,
    index: usize,
    pattern: &'a Pattern,
}

#[derive(Default)]
struct Node {
    children: HashMap<String, usize>,
    entries: Vec<usize>,
}

struct Overlaps<'a> {
    entries: Vec<Entry<'a>>,
    nodes: Vec<Node>,
    work: u64,
}

impl<'a> Overlaps<'a> {
    fn new(rules: &'a [Rule]) -> Overlaps<'a> {
        let entries: Vec<Entry<'a>> = rules
            .iter()
            .enumerate()
            .flat_map(|(rule, r)| {
                r.images
                    .iter()
                    .enumerate()
                    .map(move |(index, pattern)| Entry {
                        rule,
                        index,
                        pattern,
                    })
            })
            .collect();
        let mut nodes = vec![Node::default()];
        for (e, entry) in entries.iter().enumerate() {
            let mut at = 0;
            for seg in entry.pattern.literal_prefix() {
                at = match nodes[at].children.get(seg) {
                    Some(&next) => next,
                    None => {
                        nodes.push(Node::default());
                        let next = nodes.len() - 1;
                        nodes[at].children.insert(seg.clone(), next);
                        next
                    }
                };
            }
            nodes[at].entries.push(e);
        }
        Overlaps {
            entries,
            nodes,
            work: 0,
        }
    }

    /// Entries whose literal prefix agrees with entry `e`'s (one is a prefix of the other): the
    /// only ones that can match a name `e` matches.
    fn candidates(&mut self, e: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = 0;
        out.extend(&self.nodes[0].entries);
        for seg in self.entries[e].pattern.literal_prefix() {
            match self.nodes[at].children.get(seg) {
                Some(&next) => {
                    at = next;
                    out.extend(&self.nodes[at].entries);
                }
                None => break,
            }
        }
        let mut stack: Vec<usize> = self.nodes[at].children.values().copied().collect();
        while let Some(n) = stack.pop() {
            out.extend(&self.nodes[n].entries);
            stack.extend(self.nodes[n].children.values());
        }
        self.work += out.len() as u64;
        out
    }

    fn out_of_budget(&self) -> bool {
        self.work > WORK_BUDGET
    }

    fn witness(&mut self, must: &[usize], must_not: &[usize]) -> Answer {
        let must: Vec<_> = must.iter().map(|&e| &self.entries[e].pattern.nfa).collect();
        let not: Vec<_> = must_not
            .iter()
            .map(|&e| &self.entries[e].pattern.nfa)
            .collect();
        let (answer, states) = analysis::witness_counted(&must, &not, analysis::BUDGET);
        self.work += (states as u64) * (must.len() + not.len()) as u64;
        answer
    }
}

/// True unless the two patterns' literal segments rule out a common name.
fn may_overlap(a: &Pattern, b: &Pattern) -> bool {
    let (sa, sb) = (a.segments(), b.segments());
    let ds = |s: &String| s == "**";
    if !sa.iter().any(ds) && !sb.iter().any(ds) && sa.len() != sb.len() {
        return false;
    }
    let clash = |x: &String, y: &String| !x.contains('*') && !y.contains('*') && x != y;
    // Segments before the first `**` line up from the start, those after the last from the end.
    let forward = sa.iter().zip(sb).take_while(|(x, y)| !ds(x) && !ds(y));
    let backward = sa
        .iter()
        .rev()
        .zip(sb.iter().rev())
        .take_while(|(x, y)| !ds(x) && !ds(y));
    !forward.chain(backward).any(|(x, y)| clash(x, y))
}

fn pattern_span(rule: &Rule, pi: usize) -> Span {
    rule.image_spans.get(pi).copied().unwrap_or(rule.span)
}

/// Reports ambiguous rules (errors) and rules that are never selected (warnings). Rules in
/// `complete` false had a broken field and are not judged unreachable (the missing part might
/// have made them reachable).
pub(crate) fn check(rules: &[Rule], complete: &[bool], at: Span, d: &mut Vec<Diagnostic>) {
    let mut o = Overlaps::new(rules);
    let mut reported: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut reachable = vec![false; rules.len()];
    let mut shadowers: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); rules.len()];
    for e in 0..o.entries.len() {
        if o.out_of_budget() {
            d.push(
                Diagnostic::new(
                    "analysis-limit",
                    at,
                    "too many overlapping patterns to decide which rules tie",
                )
                .with_label("these rules")
                .with_hint("split the policy, or give patterns literal registry hosts"),
            );
            return;
        }
        let candidates = o.candidates(e);
        let (rule, spec) = (o.entries[e].rule, o.entries[e].pattern.specificity());
        let pattern = o.entries[e].pattern;
        // More specific patterns of other rules that may match what this one matches.
        let above: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&c| {
                let q = o.entries[c].pattern;
                q.specificity() > spec && may_overlap(pattern, q)
            })
            .collect();

        // Ties with a later entry of another rule.
        for &c in &candidates {
            let other = &o.entries[c];
            let pair = (rule.min(other.rule), rule.max(other.rule));
            if c <= e
                || other.rule == rule
                || other.pattern.specificity() != spec
                || reported.contains(&pair)
                || !may_overlap(pattern, other.pattern)
            {
                continue;
            }
            let other_pattern = other.pattern;
            let both: Vec<usize> = above
                .iter()
                .copied()
                .filter(|&q| may_overlap(other_pattern, o.entries[q].pattern))
                .collect();
            let (first, second) = (&o.entries[e], &o.entries[c]);
            let (r1, r2) = (&rules[first.rule], &rules[second.rule]);
            let (s1, s2) = (
                pattern_span(r1, first.index),
                pattern_span(r2, second.index),
            );
            let (code, message, hint) = match o.witness(&[e, c], &both) {
                Answer::Empty => continue,
                Answer::Witness(name) => (
                    "ambiguous-rules",
                    format!(
                        "rules \"{}\" and \"{}\" both match e.g. \"{name}\" with equal specificity",
                        r1.name, r2.name
                    ),
                    "make one pattern more specific, or merge the rules: rule order never decides",
                ),
                Answer::TooComplex => (
                    "analysis-limit",
                    format!(
                        "could not decide whether rules \"{}\" and \"{}\" tie on some image",
                        r1.name, r2.name
                    ),
                    "use fewer wildcards in these patterns",
                ),
            };
            reported.insert(pair);
            d.push(
                Diagnostic::new(code, s2, message)
                    .with_label(format!("rule \"{}\"", r2.name))
                    .with_secondary(s1, format!("rule \"{}\"", r1.name))
                    .with_hint(hint),
            );
        }

        // Is there a name this pattern matches that no more specific pattern of another rule
        // matches? Then its rule is selected there.
        if reachable[rule] || !complete.get(rule).copied().unwrap_or(false) {
            continue;
        }
        let others: Vec<usize> = above
            .into_iter()
            .filter(|&q| o.entries[q].rule != rule)
            .collect();
        if others.is_empty() {
            reachable[rule] = true;
            continue;
        }
        match o.witness(&[e], &others) {
            Answer::Empty => shadowers[rule].extend(others.iter().map(|&q| o.entries[q].rule)),
            Answer::Witness(_) | Answer::TooComplex => reachable[rule] = true,
        }
    }
    for (ri, rule) in rules.iter().enumerate() {
        if reachable[ri] || !complete.get(ri).copied().unwrap_or(false) {
            continue;
        }
        let names: Vec<&str> = shadowers[ri]
            .iter()
            .take(3)
            .map(|&r| rules[r].name.as_str())
            .collect();
        d.push(
            Diagnostic::new(
                "unreachable-rule",
                rule.span,
                format!(
                    "rule \"{}\" is never selected: a more specific rule wins on every image it matches",
                    rule.name
                ),
            )
            .with_label("never applies")
            .with_hint(format!(
                "more specific: {}{}",
                quoted_list(&names),
                if shadowers[ri].len() > 3 { ", …" } else { "" }
            )),
        );
    }
}
