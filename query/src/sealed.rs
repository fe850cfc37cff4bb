//! The sensitive columns of an encrypted lake read without its key (see
//! `ingest::sink::encryption`): the `events` view shows each as a function that fails with an
//! error naming the key flag, so a query that needs one says why it cannot run, while every
//! query that does not touch them runs as usual (the column is never read from the files).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use ingest::sink::encryption::{ENCRYPTED_COLUMNS, KEY_HINT};

/// The SQL the `events` view shows for `column` when it is sealed.
pub fn expression(column: &str) -> String {
    format!("{}()", function_name(column))
}

fn function_name(column: &str) -> String {
    format!("encrypted_{column}")
}

/// One function per sealed column, for `key_id` (the lake's key).
pub fn udfs(key_id: &str) -> Vec<ScalarUDF> {
    let schema = ingest::schema::file_schema();
    ENCRYPTED_COLUMNS
        .iter()
        .filter_map(|column| {
            let field = schema.field_with_name(column).ok()?;
            Some(ScalarUDF::new_from_impl(Sealed {
                name: function_name(column),
                column: column.to_string(),
                data_type: field.data_type().clone(),
                key_id: key_id.to_string(),
                // volatile: evaluated per batch, never folded into a constant while planning
                signature: Signature::nullary(Volatility::Volatile),
            }))
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Sealed {
    name: String,
    column: String,
    data_type: DataType,
    key_id: String,
    signature: Signature,
}

impl ScalarUDFImpl for Sealed {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.data_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.number_rows == 0 {
            return Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from(&self.data_type)?,
            ));
        }
        exec_err!(
            "column {} is encrypted in this lake (key {}): pass its key with {KEY_HINT}",
            self.column,
            self.key_id
        )
    }
}
