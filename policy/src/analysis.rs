//! Decides questions about pattern languages exactly: "is there a repository name that all of
//! these patterns match and none of those do?". A breadth-first search over the product of the
//! patterns' automata (the excluded ones determinized on the fly), plus a tiny automaton that
//! keeps only well-formed names, finds the shortest such name or proves there is none.

use crate::glob::Nfa;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Product states explored before giving up.
pub(crate) const BUDGET: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A name in the language, shortest first found.
    Witness(String),
    /// No name is in the language.
    Empty,
    /// The search ran out of budget.
    TooComplex,
}

/// Bytes a witness uses for characters that no pattern names, in order of preference.
const FILLER: &[u8] = b"xyzqwvkjhgfedcbamnoprstuil0123456789";

#[cfg(test)]
/// Searches for a well-formed name (non-empty `/`-separated segments) matched by every NFA in
/// `must` and by none in `must_not`.
pub(crate) fn witness(must: &[&Nfa], must_not: &[&Nfa], budget: usize) -> Answer {
    witness_counted(must, must_not, budget).0
}

/// [`witness`], also returning how many product states were explored.
pub(crate) fn witness_counted(must: &[&Nfa], must_not: &[&Nfa], budget: usize) -> (Answer, usize) {
    // Bytes outside every pattern's literals behave alike, so one of them stands for all.
    let mut alphabet: Vec<u8> = must
        .iter()
        .chain(must_not)
        .flat_map(|n| n.literal_bytes())
        .collect();
    alphabet.push(b'/');
    let filler = FILLER.iter().copied().find(|b| !alphabet.contains(b));
    alphabet.extend(filler);
    alphabet.sort_unstable();
    alphabet.dedup();
    // Try the filler first, then letters and digits, so witnesses read like names.
    alphabet.sort_by_key(|&b| (Some(b) != filler, !b.is_ascii_alphanumeric(), b));

    let all: Vec<&Nfa> = must.iter().chain(must_not).copied().collect();
    // State: the well-formedness automaton's state and one state set per pattern automaton.
    let start: (u8, Vec<Vec<u64>>) = (0, all.iter().map(|n| n.start()).collect());
    let mut seen: HashMap<(u8, Vec<Vec<u64>>), usize> = HashMap::new();
    let mut nodes: Vec<(usize, u8)> = vec![(usize::MAX, 0)];
    let mut queue: Vec<(u8, Vec<Vec<u64>>)> = vec![start.clone()];
    seen.insert(start, 0);
    let mut head = 0;
    let mut scratch = Vec::new();
    while head < queue.len() {
        let (valid, sets) = queue[head].clone();
        let id = head;
        head += 1;
        let accepted = valid == IN_WORD
            && must.iter().zip(&sets).all(|(n, s)| n.accepts(s))
            && must_not
                .iter()
                .zip(&sets[must.len()..])
                .all(|(n, s)| !n.accepts(s));
        if accepted {
            return (Answer::Witness(path(&nodes, id)), queue.len());
        }
        'bytes: for &byte in &alphabet {
            let Some(next_valid) = well_formed(valid, byte) else {
                continue;
            };
            let mut next_sets = Vec::with_capacity(all.len());
            for (i, (n, s)) in all.iter().zip(&sets).enumerate() {
                n.step(s, byte, &mut scratch);
                if i < must.len() && Nfa::is_empty(&scratch) {
                    continue 'bytes;
                }
                next_sets.push(std::mem::take(&mut scratch));
            }
            let key = (next_valid, next_sets);
            if let Entry::Vacant(e) = seen.entry(key.clone()) {
                if queue.len() >= budget {
                    return (Answer::TooComplex, queue.len());
                }
                e.insert(queue.len());
                nodes.push((id, byte));
                queue.push(key);
            }
        }
    }
    (Answer::Empty, queue.len())
}

const SEGMENT_START: u8 = 0;
const IN_WORD: u8 = 1;
const AFTER_SEPARATOR: u8 = 2;

/// Names as the CLI normalizes them: segments begin and end with a letter or digit, so a
/// witness is a name that can exist and a pattern like `r.io/-x` is seen to match nothing.
fn well_formed(state: u8, byte: u8) -> Option<u8> {
    let word = byte.is_ascii_alphanumeric() || matches!(byte, b'[' | b']');
    match (state, byte) {
        (IN_WORD, b'/') => Some(SEGMENT_START),
        (_, b'/') => None,
        (_, _) if word => Some(IN_WORD),
        (SEGMENT_START, _) => None,
        _ => Some(AFTER_SEPARATOR),
    }
}

fn path(nodes: &[(usize, u8)], mut id: usize) -> String {
    let mut bytes = Vec::new();
    while id != 0 {
        let (parent, byte) = nodes[id];
        bytes.push(byte);
        id = parent;
    }
    bytes.reverse();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glob::Pattern;

    fn w(must: &[&str], must_not: &[&str]) -> Answer {
        let must: Vec<Pattern> = must.iter().map(|p| Pattern::new(p).expect(p)).collect();
        let not: Vec<Pattern> = must_not.iter().map(|p| Pattern::new(p).expect(p)).collect();
        let must_n: Vec<&Nfa> = must.iter().map(|p| &p.nfa).collect();
        let not_n: Vec<&Nfa> = not.iter().map(|p| &p.nfa).collect();
        let answer = witness(&must_n, &not_n, BUDGET);
        if let Answer::Witness(name) = &answer {
            assert!(must.iter().all(|p| p.matches(name)), "{name}");
            assert!(!not.iter().any(|p| p.matches(name)), "{name}");
        }
        answer
    }

    #[test]
    fn finds_overlaps_with_a_witness() {
        assert_eq!(
            w(&["r.io/**/*-svc", "r.io/a/**"], &[]),
            Answer::Witness("r.io/a/x-svc".into())
        );
        assert!(matches!(w(&["r.io/*/x", "r.io/y/*"], &[]), Answer::Witness(s) if s == "r.io/y/x"));
        assert!(matches!(w(&["**/a", "r.io/**"], &[]), Answer::Witness(_)));
        assert!(matches!(
            w(&["r.io/**"], &["r.io/a/**", "r.io/b*/**"]),
            Answer::Witness(_)
        ));
    }

    #[test]
    fn gives_up_past_the_budget() {
        let a = Pattern::new("r.io/*a*b*").expect("a");
        let b = Pattern::new("r.io/*b*a*").expect("b");
        assert_eq!(witness(&[&a.nfa, &b.nfa], &[], 3), Answer::TooComplex);
        assert!(matches!(
            witness(&[&a.nfa, &b.nfa], &[], BUDGET),
            Answer::Witness(_)
        ));
    }

    #[test]
    fn proves_disjointness() {
        assert_eq!(w(&["r.io/a/*", "r.io/b/*"], &[]), Answer::Empty);
        assert_eq!(w(&["r.io/*", "r.io/*/*"], &[]), Answer::Empty);
        assert_eq!(
            w(&["r.io/x-*", "r.io/*-y", "r.io/*z*"], &["r.io/x-*"]),
            Answer::Empty
        );
        assert_eq!(w(&["r.io/a/**"], &["r.io/**"]), Answer::Empty);
        assert_eq!(w(&["r.io/*"], &["r.io/a*", "r.io/*"]), Answer::Empty);
    }
}
