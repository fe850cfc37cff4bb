//! `csr_subject(request)`: the subject a CertificateSigningRequest asks for, decoded from its
//! `spec.request` (base64 of a PEM or DER PKCS#10 request), as `CN=...,O=...,OU=...`.
//!
//! The API server signs whatever subject the request carries once someone approves it, so a CN
//! of `system:...` or an O of `system:masters` is a request for a control-plane or admin
//! identity:
//!
//! ```sql
//! SELECT name, csr_subject(regexp_match(request_object, '"request"\s*:\s*"([^"]+)"')[1])
//! FROM events WHERE resource = 'certificatesigningrequests' AND verb = 'create'
//! ```
//!
//! Text that does not decode as a certificate request gives NULL, never an error.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// One DER element: tag and contents, and the rest of the input after it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The DER bytes of a request given as base64 of PEM, base64 of DER, or PEM text.
fn der(request: &str) -> Option<Vec<u8>> {
    let compact: String = request.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = if request.contains("-----BEGIN") {
        request.as_bytes().to_vec()
    } else {
        STANDARD.decode(compact.as_bytes()).ok()?
    };
    if bytes.first() == Some(&0x30) {
        return Some(bytes);
    }
    let text = std::str::from_utf8(&bytes).ok()?;
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    STANDARD.decode(body.as_bytes()).ok()
}

/// `CN=...,O=...` of a PKCS#10 request, attributes in the order the request lists them.
pub fn subject(request: &str) -> Option<String> {
    let der = der(request)?;
    let (0x30, csr, _) = element(&der)? else {
        return None;
    };
    let (0x30, info, _) = element(csr)? else {
        return None;
    };
    let (0x02, _version, rest) = element(info)? else {
        return None;
    };
    let (0x30, mut name, _) = element(rest)? else {
        return None;
    };
    let mut parts = Vec::new();
    while !name.is_empty() {
        let (0x31, mut set, next) = element(name)? else {
            return None;
        };
        name = next;
        while !set.is_empty() {
            let (0x30, attr, more) = element(set)? else {
                return None;
            };
            set = more;
            let (0x06, oid, value) = element(attr)? else {
                return None;
            };
            let (_, value, _) = element(value)?;
            let key = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                _ => continue,
            };
            parts.push(format!("{key}={}", String::from_utf8_lossy(value)));
        }
    }
    Some(parts.join(","))
}

/// The SQL function `csr_subject(request)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CsrSubject {
    signature: Signature,
}

impl Default for CsrSubject {
    fn default() -> Self {
        CsrSubject {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

/// `csr_subject` ready to register in a session.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(CsrSubject::default())
}

impl ScalarUDFImpl for CsrSubject {
    fn name(&self) -> &str {
        "csr_subject"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [input] = arrays.as_slice() else {
            return exec_err!("csr_subject(request) takes one argument");
        };
        let mut out = StringBuilder::with_capacity(rows, rows * 16);
        match input.data_type() {
            DataType::Null => (0..rows).for_each(|_| out.append_null()),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let text = cast(input, &DataType::Utf8)?;
                let text = text.as_string::<i32>();
                for row in 0..rows {
                    if text.is_null(row) {
                        out.append_null();
                    } else {
                        out.append_option(subject(text.value(row)));
                    }
                }
            }
            other => return exec_err!("csr_subject: request must be text, not {other}"),
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(ColumnarValue::Array(array))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl req -new -subj "/O=system:masters/CN=backup-operator"`, PEM, then base64.
    const MASTERS: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIdU1JR1ZBZ0VBTURNeEZ6QVZCZ05WQkFvTURuTjVjM1JsYlRwdFlYTjBaWEp6TVJnd0ZnWURWUVFEREE5aQpZV05yZFhBdGIzQmxjbUYwYjNJd1dUQVRCZ2NxaGtqT1BRSUJCZ2dxaGtqT1BRTUJCd05DQUFROGRoTTZWRDZiCit0aUIwN0JtSDdxOFlrQXg2RndhaEEya3I3dlJJbDBxL3ZPNW0rZ3M2NEpnYTZGRkJSVmdiek5ma0w5NlhObDYKMktWYXh0OEROMW1lb0FBd0NnWUlLb1pJemowRUF3SURTQUF3UlFJZ0RoZS9MdCs5RlZReWx0djFNMXZOd3plMgpocDkrM1FrSExjeXROa0VqejFjQ0lRRFJQRHFNMG5KOEZ5RGVPSEZYaGpEQi9NTVdNR1BxeHFWMnpCQWt5cDluCk93PT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUgUkVRVUVTVC0tLS0tCg==";
    /// `openssl req -new -subj "/O=developers/CN=alice"`, PEM, then base64.
    const ALICE: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIZk1JR0hBZ0VBTUNVeEV6QVJCZ05WQkFvTUNtUmxkbVZzYjNCbGNuTXhEakFNQmdOVkJBTU1CV0ZzYVdObApNRmt3RXdZSEtvWkl6ajBDQVFZSUtvWkl6ajBEQVFjRFFnQUVuN1ljL3lEV09xMG5JbzNONElJMkNCRXF5SlRyCk16dUtqYW1HakN1VENISkhsUnFiamRwMldDQmM0c3IyMWtFK1dwNTM0eFQ4aTRQODNud1dIRGJpcHFBQU1Bb0cKQ0NxR1NNNDlCQU1DQTBjQU1FUUNJQnROQUJxb1I0MEpBSkVuTVBTYzA1bWY0eWl2dGt0bUtiQzNiRXdHc0ZkbwpBaUFVd1FQRi94T2ZXWjFKb2tBSTFNY3FhVUN2QVBMak13MkRpdUxSU1ExdEhRPT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUgUkVRVUVTVC0tLS0tCg==";

    #[test]
    fn a_base64_pem_request_gives_its_subject_in_order() {
        assert_eq!(
            subject(MASTERS).as_deref(),
            Some("O=system:masters,CN=backup-operator")
        );
        assert_eq!(subject(ALICE).as_deref(), Some("O=developers,CN=alice"));
    }

    #[test]
    fn pem_text_and_base64_der_decode_too() {
        let pem = String::from_utf8(STANDARD.decode(ALICE).expect("base64")).expect("utf8");
        assert_eq!(subject(&pem).as_deref(), Some("O=developers,CN=alice"));
        let der = der(ALICE).expect("der");
        assert_eq!(
            subject(&STANDARD.encode(der)).as_deref(),
            Some("O=developers,CN=alice")
        );
    }

    #[test]
    fn text_that_is_not_a_request_gives_none() {
        assert_eq!(subject("not base64 at all!"), None);
        assert_eq!(subject(&STANDARD.encode("hello")), None);
        assert_eq!(subject(""), None);
        // truncated: the length runs past the end
        let der = der(ALICE).expect("der");
        assert_eq!(subject(&STANDARD.encode(&der[..40])), None);
    }
}
