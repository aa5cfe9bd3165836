//! Working on many images at once: the list read from a file, bounded concurrency, results in
//! input order, identical references done once.

use std::collections::HashMap;
use std::future::Future;
use std::io::BufRead;
use std::path::Path;

use futures_util::stream::{self, StreamExt};

use vouch_oci::reference::ImageRef;

/// Reads references, one per line, from a file or `-` (stdin); blank lines and `#` comments
/// are skipped.
pub fn read_reference_list(path: &Path) -> std::io::Result<Vec<String>> {
    let reader: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        if path.is_dir() {
            return Err(std::io::Error::other(
                "is a directory, not a list of references",
            ));
        }
        Box::new(std::io::BufReader::new(std::fs::File::open(path)?))
    };
    let mut out = Vec::new();
    for line in reader.lines() {
        let line = line?;
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            out.push(line.to_string());
        }
    }
    Ok(out)
}

/// Runs `work` on every distinct image, at most `jobs` at a time, and calls `each` with the
/// results in input order (a repeated reference gets the first one's result).
pub async fn run_in_order<T, W, Fut, E>(images: &[ImageRef], jobs: usize, work: W, mut each: E)
where
    T: Clone,
    W: Fn(ImageRef) -> Fut,
    Fut: Future<Output = T>,
    E: FnMut(&ImageRef, T),
{
    let mut first_index: HashMap<String, usize> = HashMap::new();
    let mut unique: Vec<ImageRef> = Vec::new();
    let slots: Vec<usize> = images
        .iter()
        .map(|image| {
            *first_index.entry(image.to_string()).or_insert_with(|| {
                unique.push(image.clone());
                unique.len() - 1
            })
        })
        .collect();
    // Results are kept only until their last repetition is printed.
    let mut last_use = vec![0usize; unique.len()];
    for (input, slot) in slots.iter().enumerate() {
        last_use[*slot] = input;
    }
    let mut done: Vec<Option<T>> = vec![None; unique.len()];
    let mut next_output = 0usize;
    let mut results = stream::iter(unique.clone().into_iter().map(&work))
        .buffered(jobs.max(1))
        .enumerate();
    while let Some((i, result)) = results.next().await {
        done[i] = Some(result);
        // Emit every input line whose unique result is now known, in order.
        while next_output < images.len() {
            let slot = slots[next_output];
            let result = if last_use[slot] == next_output {
                done[slot].take()
            } else {
                done[slot].clone()
            };
            let Some(result) = result else {
                break;
            };
            each(&images[next_output], result);
            next_output += 1;
        }
    }
}
