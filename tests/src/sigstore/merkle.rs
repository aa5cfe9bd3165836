//! RFC 6962 §2.1 Merkle tree hashes and the audit paths built from them: the tree head,
//! inclusion proofs (PATH) and consistency proofs (PROOF/SUBPROOF), computed from the
//! list of leaf hashes.

use sha2::{Digest as _, Sha256};

pub(crate) type Hash = [u8; 32];

/// SHA-256(0x00 || leaf).
pub(crate) fn leaf_hash(leaf: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(leaf)
        .finalize()
        .into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]); the empty tree's hash is SHA-256 of nothing.
pub(crate) fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]): the inclusion proof of leaf `m`, leaf side first.
pub(crate) fn inclusion_proof(leaves: &[Hash], m: usize) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    let (mut path, sibling) = if m < k {
        (inclusion_proof(&leaves[..k], m), root(&leaves[k..]))
    } else {
        (inclusion_proof(&leaves[k..], m - k), root(&leaves[..k]))
    };
    path.push(sibling);
    path
}

/// PROOF(m, D[n]): the consistency proof from the first `m` leaves to all of them.
pub(crate) fn consistency_proof(leaves: &[Hash], m: usize) -> Vec<Hash> {
    if m == 0 || m >= leaves.len() {
        return Vec::new();
    }
    subproof(m, leaves, true)
}

fn subproof(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if complete {
            Vec::new()
        } else {
            vec![root(leaves)]
        };
    }
    let k = split(n);
    let (mut proof, other) = if m <= k {
        (subproof(m, &leaves[..k], complete), root(&leaves[k..]))
    } else {
        (subproof(m - k, &leaves[k..], false), root(&leaves[..k]))
    };
    proof.push(other);
    proof
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9162 §2.1.3.2: the root an inclusion proof yields.
    fn root_from_proof(mut index: usize, size: usize, leaf: Hash, proof: &[Hash]) -> Hash {
        let mut last = size - 1;
        let mut r = leaf;
        for p in proof {
            if index & 1 == 1 || index == last {
                r = node_hash(p, &r);
                while index & 1 == 0 && index != 0 {
                    index /= 2;
                    last /= 2;
                }
            } else {
                r = node_hash(&r, p);
            }
            index /= 2;
            last /= 2;
        }
        assert_eq!(last, 0, "proof length");
        r
    }

    /// RFC 9162 §2.1.4.2: both roots a consistency proof yields.
    fn roots_from_consistency(m: usize, n: usize, first: Hash, proof: &[Hash]) -> (Hash, Hash) {
        let mut proof = proof.to_vec();
        if m.is_power_of_two() {
            proof.insert(0, first);
        }
        let (mut f, mut s) = (m - 1, n - 1);
        while f & 1 == 1 {
            f /= 2;
            s /= 2;
        }
        let (mut fr, mut sr) = (proof[0], proof[0]);
        for c in &proof[1..] {
            if s == 0 {
                panic!("proof too long");
            }
            if f & 1 == 1 || f == s {
                fr = node_hash(c, &fr);
                sr = node_hash(c, &sr);
                while f & 1 == 0 && f != 0 {
                    f /= 2;
                    s /= 2;
                }
            } else {
                sr = node_hash(&sr, c);
            }
            f /= 2;
            s /= 2;
        }
        assert_eq!(s, 0);
        (fr, sr)
    }

    #[test]
    fn proofs_verify_for_every_leaf_and_prefix() {
        for n in 1..=20usize {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&[i as u8])).collect();
            let want = root(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                let proof = inclusion_proof(&leaves, i);
                assert_eq!(root_from_proof(i, n, *leaf, &proof), want, "n={n} i={i}");
            }
            for m in 1..n {
                let proof = consistency_proof(&leaves, m);
                let (old, new) = roots_from_consistency(m, n, root(&leaves[..m]), &proof);
                assert_eq!((old, new), (root(&leaves[..m]), want), "m={m} n={n}");
            }
        }
    }

    #[test]
    fn empty_tree_hash_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
