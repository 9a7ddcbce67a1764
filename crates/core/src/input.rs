//! Decoding what a file or a payload holds before a doctor reads it:
//! gzip (every member, with a cap on the decompressed size) and a UTF-8
//! byte-order mark. The kind of content is told by the content, never by a
//! file name.

use std::io::Read;

use flate2::read::MultiGzDecoder;

/// The gzip magic number.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The most one gzip document may decompress to (1 GiB). A log file is far
/// smaller (CloudTrail writes one per account, Region and few minutes, VPC
/// Flow Logs one per flow log and 5 or 60 minutes); without a bound, a
/// small hostile file (a "gzip bomb", about 1000:1) in a directory of
/// inputs would take all the memory and every other file's answer with it.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

/// Why content could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("gzip data is corrupt, truncated or too large: {0}")]
pub struct DecodeError(#[source] pub std::io::Error);

/// Whether `bytes` start like gzip.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// `bytes` without a leading UTF-8 byte-order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Decompresses every gzip member of `bytes`, refusing more than `limit`
/// bytes of output.
pub fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, DecodeError> {
    let capacity = bytes
        .len()
        .saturating_mul(8)
        .min(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut plain = Vec::with_capacity(capacity);
    MultiGzDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut plain)
        .map_err(DecodeError)?;
    if plain.len() as u64 > limit {
        return Err(DecodeError(std::io::Error::other(format!(
            "decompresses to more than {limit} bytes"
        ))));
    }
    Ok(plain)
}

/// The plain content of `bytes`: decompressed when gzip (at most
/// [`MAX_DECOMPRESSED`]), without a byte-order mark.
pub fn decode(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, DecodeError> {
    if is_gzip(bytes) {
        let plain = gunzip(bytes, MAX_DECOMPRESSED)?;
        let start = plain.len() - strip_bom(&plain).len();
        return Ok(std::borrow::Cow::Owned(plain[start..].to_vec()));
    }
    Ok(std::borrow::Cow::Borrowed(strip_bom(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("in memory");
        e.finish().expect("in memory")
    }

    #[test]
    fn gzip_and_bom_are_taken_off() {
        assert_eq!(&*decode(b"\xEF\xBB\xBF{}").expect("plain"), b"{}");
        assert_eq!(&*decode(&gzip(b"\xEF\xBB\xBFa b")).expect("gzip"), b"a b");
        let mut two = gzip(b"one ");
        two.extend(gzip(b"two"));
        assert_eq!(&*decode(&two).expect("two members"), b"one two");
    }

    #[test]
    fn corrupt_and_oversized_gzip_is_an_error() {
        let mut cut = gzip(b"some text that is long enough");
        cut.truncate(cut.len() - 6);
        assert!(decode(&cut).is_err());
        let big = gzip(&vec![b'x'; 4096]);
        let err = gunzip(&big, 4095).expect_err("over the limit");
        assert!(err.to_string().contains("more than 4095 bytes"), "{err}");
        assert_eq!(gunzip(&big, 4096).expect("at the limit").len(), 4096);
    }
}
