//! A JSON input read object by object, the way every doctor's reader reads
//! its files: a stream of values (one value, or JSON Lines), each an array
//! of objects or one object, each object handed to the doctor's
//! [`ObjectReader`] as its keys stream by (so that a large array inside is
//! never held whole). What a doctor does with an object is its own; where a
//! value fails and how that is said (the line it starts on in JSON Lines)
//! is shared.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A doctor's reader of one JSON object.
pub trait ObjectReader: Default {
    /// What the doctor reads, for the error about a value it does not
    /// ("a nested array is not ...").
    const EXPECTING: &'static str;

    /// Reads one object.
    fn read_object<'de, A: MapAccess<'de>>(&mut self, map: A) -> Result<(), A::Error>;
}

/// Why a whole document (a file, a payload) could not be read: what every
/// doctor's reader answers for input it cannot take.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The content starts like gzip but does not decompress, or
    /// decompresses to more than [`crate::input::MAX_DECOMPRESSED`] bytes.
    #[error("gzip data is corrupt, truncated or too large: {0}")]
    Gzip(#[source] std::io::Error),
    /// The content is not JSON.
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message without its position.
        message: String,
    },
    /// Valid JSON, but not a shape the doctor reads.
    #[error("line {line}: {message}")]
    Shape {
        /// 1-based line of the offending value.
        line: usize,
        /// What was found.
        message: String,
    },
}

impl DocumentError {
    /// The line the error is on, when it has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Gzip(_) => None,
            Self::Json { line, .. } | Self::Shape { line, .. } => Some(*line),
        }
    }
}

impl From<crate::input::DecodeError> for DocumentError {
    fn from(e: crate::input::DecodeError) -> Self {
        Self::Gzip(e.0)
    }
}

/// Reads every top-level value of `data` with a fresh `R`, and hands it to
/// `each` with the 1-based line the value starts on. Stops at the first
/// value that fails (what came before it has been handed over).
pub fn read_stream<R: ObjectReader>(
    data: &[u8],
    mut each: impl FnMut(R, usize),
) -> Result<(), DocumentError> {
    let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<TopLevel<R>>();
    for index in 0.. {
        let start = stream.byte_offset();
        match stream.next() {
            None => break,
            Some(Ok(TopLevel(reader))) => each(reader, line_of_value(data, start)),
            Some(Err(e)) => return Err(error(&e, index, line_of_value(data, start))),
        }
    }
    Ok(())
}

/// The 1-based line on which the value after `offset` (past whitespace)
/// starts.
fn line_of_value(data: &[u8], offset: usize) -> usize {
    let offset = offset.min(data.len());
    let skip = data[offset..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    1 + data[..offset + skip]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// The error for a value that failed to parse. In JSON Lines (a value
/// after the first, or a break found only at the start of the next line)
/// the line named is the one the broken value starts on; the parser's own
/// position stays in the message.
fn error(e: &serde_json::Error, index: usize, value_line: usize) -> DocumentError {
    let text = e.to_string();
    let (message, position) = text.rsplit_once(" at line ").unwrap_or((text.as_str(), ""));
    let json_lines = index > 0 || (e.line() > value_line && e.column() <= 1);
    let (line, message) = if json_lines && e.line() != value_line {
        (value_line, format!("{message} (found at line {position})"))
    } else {
        (e.line(), message.to_owned())
    };
    match e.classify() {
        serde_json::error::Category::Data => DocumentError::Shape { line, message },
        _ => DocumentError::Json {
            line,
            column: if line == e.line() { e.column() } else { 1 },
            message,
        },
    }
}

/// One top-level JSON value: an array of objects or one object.
struct TopLevel<R>(R);

impl<'de, R: ObjectReader> Deserialize<'de> for TopLevel<R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut reader = R::default();
        deserializer.deserialize_any(ValueVisitor {
            reader: &mut reader,
            allow_array: true,
        })?;
        Ok(TopLevel(reader))
    }
}

/// Visits an array of objects (only at the top level) or one object.
struct ValueVisitor<'r, R> {
    reader: &'r mut R,
    allow_array: bool,
}

impl<'de, R: ObjectReader> Visitor<'de> for ValueVisitor<'_, R> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(R::EXPECTING)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if !self.allow_array {
            return Err(de::Error::custom(format!(
                "a nested array is not {}",
                R::EXPECTING
            )));
        }
        while seq
            .next_element_seed(ObjectSeed {
                reader: &mut *self.reader,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.reader.read_object(map)
    }
}

/// One array element: must be an object.
struct ObjectSeed<'r, R> {
    reader: &'r mut R,
}

impl<'de, R: ObjectReader> DeserializeSeed<'de> for ObjectSeed<'_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(ValueVisitor {
            reader: self.reader,
            allow_array: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the objects it is given and the keys of each.
    #[derive(Default)]
    struct Keys(Vec<usize>);

    impl ObjectReader for Keys {
        const EXPECTING: &'static str = "objects";

        fn read_object<'de, A: MapAccess<'de>>(&mut self, mut map: A) -> Result<(), A::Error> {
            let mut n = 0;
            while map
                .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                .is_some()
            {
                n += 1;
            }
            self.0.push(n);
            Ok(())
        }
    }

    /// Each value's key counts and the line it starts on.
    type Seen = Vec<(Vec<usize>, usize)>;

    fn read(data: &str) -> (Seen, Result<(), DocumentError>) {
        let mut seen = Vec::new();
        let result = read_stream::<Keys>(data.as_bytes(), |k, line| seen.push((k.0, line)));
        (seen, result)
    }

    #[test]
    fn an_array_of_objects_and_json_lines_each_with_the_line_it_starts_on() {
        let (seen, result) = read("[{\"a\":1},{\"a\":1,\"b\":2}]\n\n{\"c\":[1]}\n");
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(seen, vec![(vec![1, 2], 1), (vec![1], 3)]);
    }

    #[test]
    fn a_nested_array_is_a_shape_error_naming_what_is_read() {
        let (_, result) = read("[[{\"a\":1}]]");
        match result {
            Err(DocumentError::Shape { line: 1, message }) => {
                assert!(
                    message.contains("a nested array is not objects"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_broken_json_lines_value_names_the_line_it_starts_on() {
        let (seen, result) = read("{\"a\":1}\n{\"a\":\n");
        assert_eq!(seen, vec![(vec![1], 1)]);
        match result {
            Err(DocumentError::Json { line: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}
