//! RFC 6962 / RFC 9162 Merkle tree hashing and inclusion proofs.
//! vouch's own: a few dozen lines over sha2; the crates that do it carry a log client with them.

use sha2::{Digest as _, Sha256};

/// Leaf hash: SHA-256(0x00 || leaf).
pub(crate) fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// An inclusion proof of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfTree { index: u64, size: u64 },
    #[error("inclusion proof is too long")]
    TooLong,
    #[error("inclusion proof is too short")]
    TooShort,
}

/// The root that `proof` yields for `leaf` at `index` in a tree of `size` leaves
/// (RFC 9162 §2.1.3.2), or an error if the proof has the wrong shape.
pub(crate) fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    proof: &[[u8; 32]],
) -> Result<[u8; 32], ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfTree { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::TooLong);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::TooShort);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let k = leaves.len().next_power_of_two() / 2;
        node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
    }

    fn proof(leaves: &[[u8; 32]], i: usize) -> Vec<[u8; 32]> {
        if leaves.len() == 1 {
            return Vec::new();
        }
        let k = leaves.len().next_power_of_two() / 2;
        if i < k {
            let mut p = proof(&leaves[..k], i);
            p.push(root(&leaves[k..]));
            p
        } else {
            let mut p = proof(&leaves[k..], i - k);
            p.push(root(&leaves[..k]));
            p
        }
    }

    #[test]
    fn every_leaf_of_small_trees() {
        for n in 1..=17usize {
            let leaves: Vec<[u8; 32]> = (0..n).map(|i| leaf_hash(&[i as u8])).collect();
            let want = root(&leaves);
            for i in 0..n {
                let p = proof(&leaves, i);
                let got = root_from_inclusion_proof(i as u64, n as u64, leaves[i], &p);
                assert_eq!(got, Ok(want), "n={n} i={i}");
                if !p.is_empty() {
                    assert!(
                        root_from_inclusion_proof(i as u64, n as u64, leaves[i], &p[1..])
                            != Ok(want)
                    );
                }
            }
            assert!(root_from_inclusion_proof(n as u64, n as u64, leaves[0], &[]).is_err());
        }
    }
}
