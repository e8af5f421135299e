//! What an upsert carries: rows of keys, vectors and scalar columns, and their
//! conversion into Milvus's field data.

use crate::pb::schema::{self, DataType, field_data, scalar_field, vector_field};
use crate::{MilvusError, Result};

/// A scalar column type tuneclip stores beside a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarType {
    Bool,
    Int64,
    Float,
    /// A string of at most this many bytes.
    VarChar(u32),
}

/// Values of one scalar column, one per row.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Bool(Vec<bool>),
    Int64(Vec<i64>),
    Float(Vec<f32>),
    VarChar(Vec<String>),
}

impl ColumnData {
    fn len(&self) -> usize {
        match self {
            Self::Bool(v) => v.len(),
            Self::Int64(v) => v.len(),
            Self::Float(v) => v.len(),
            Self::VarChar(v) => v.len(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub data: ColumnData,
}

/// Rows to upsert: primary keys, their vectors (flat, `dim` per row), scalar columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub keys: Vec<i64>,
    pub dim: usize,
    pub vectors: Vec<f32>,
    pub columns: Vec<Column>,
}

/// Field names every tuneclip collection has.
pub const KEY_FIELD: &str = "key";
pub const VECTOR_FIELD: &str = "embedding";

impl Rows {
    /// The rows as Milvus's field data (key, vector, then each column), after checking
    /// that every column and the vectors hold one value per key.
    pub(crate) fn fields_data(&self, collection: &str) -> Result<Vec<schema::FieldData>> {
        let n = self.keys.len();
        if self.vectors.len() != n * self.dim || self.columns.iter().any(|c| c.data.len() != n) {
            return Err(MilvusError::Invalid(format!(
                "upsert into {collection:?}: {n} keys but {} floats of dim {} or a column of another length",
                self.vectors.len(),
                self.dim
            )));
        }
        let mut fields_data = vec![
            schema::FieldData {
                r#type: DataType::Int64 as i32,
                field_name: KEY_FIELD.into(),
                field: Some(field_data::Field::Scalars(schema::ScalarField {
                    data: Some(scalar_field::Data::LongData(schema::LongArray { data: self.keys.clone() })),
                })),
                ..Default::default()
            },
            schema::FieldData {
                r#type: DataType::FloatVector as i32,
                field_name: VECTOR_FIELD.into(),
                field: Some(field_data::Field::Vectors(schema::VectorField {
                    dim: self.dim as i64,
                    data: Some(vector_field::Data::FloatVector(schema::FloatArray { data: self.vectors.clone() })),
                })),
                ..Default::default()
            },
        ];
        for c in &self.columns {
            let (ty, data) = match &c.data {
                ColumnData::Bool(v) => {
                    (DataType::Bool, scalar_field::Data::BoolData(schema::BoolArray { data: v.clone() }))
                }
                ColumnData::Int64(v) => {
                    (DataType::Int64, scalar_field::Data::LongData(schema::LongArray { data: v.clone() }))
                }
                ColumnData::Float(v) => {
                    (DataType::Float, scalar_field::Data::FloatData(schema::FloatArray { data: v.clone() }))
                }
                ColumnData::VarChar(v) => {
                    (DataType::VarChar, scalar_field::Data::StringData(schema::StringArray { data: v.clone() }))
                }
            };
            fields_data.push(schema::FieldData {
                r#type: ty as i32,
                field_name: c.name.clone(),
                field: Some(field_data::Field::Scalars(schema::ScalarField { data: Some(data) })),
                ..Default::default()
            });
        }
        Ok(fields_data)
    }
}
