//! What a client's navigator asks before it runs anything: server facts
//! (GetSqlInfo), the types it can use (GetXdbcTypeInfo), and the tree as
//! catalog `pond`, one schema per directory (`/`, `/sensors`, …) plus
//! `system`, with tables, views and materialized views in them.

use std::sync::Arc;

use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    Any, CommandGetDbSchemas, CommandGetPrimaryKeys, CommandGetTables, Nullable, Searchable,
    SqlInfo, SqlSupportedCaseSensitivity, SqlSupportedTransaction, XdbcDataType,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result};

use crate::PondSession;
use crate::{Kind, PondPath, TreeEntry, CATALOG, SYSTEM_SCHEMA};

/// Table types, as GetTableTypes lists them.
pub(crate) const TABLE_TYPES: [&str; 4] = ["TABLE", "VIEW", "MATERIALIZED VIEW", "SYSTEM TABLE"];

fn table_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Table => "TABLE",
        Kind::View => "VIEW",
        Kind::MaterializedView => "MATERIALIZED VIEW",
        Kind::Directory => "DIRECTORY",
    }
}

/// The server facts GetSqlInfo answers.
pub(crate) fn sql_info(read_only: bool) -> SqlInfoData {
    let mut info = SqlInfoDataBuilder::new();
    info.append(SqlInfo::FlightSqlServerName, "pondsql");
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    info.append(SqlInfo::FlightSqlServerArrowVersion, "1.5");
    info.append(SqlInfo::FlightSqlServerReadOnly, read_only);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, false);
    // BEGIN … COMMIT as SQL statements within one session; the Flight SQL
    // transaction actions are not offered.
    info.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    info.append(SqlInfo::FlightSqlServerCancel, true);
    info.append(SqlInfo::FlightSqlServerBulkIngestion, true);
    info.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    info.append(SqlInfo::SqlDdlCatalog, false);
    info.append(SqlInfo::SqlDdlSchema, true);
    info.append(SqlInfo::SqlDdlTable, true);
    info.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    info.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32,
    );
    info.append(SqlInfo::SqlAllTablesAreSelectable, true);
    info.append(SqlInfo::SqlNullOrdering, 1i32); // nulls sorted high, as DataFusion does
    info.append(
        SqlInfo::SqlKeywords,
        &[
            "DIRECTORY",
            "GLOB",
            "DOWNSAMPLE",
            "GAPFILL",
            "HISTORY",
            "LS",
            "OPTIMIZE",
            "VACUUM",
            "REFRESH",
            "MATERIALIZED",
        ][..],
    );
    info.append(
        SqlInfo::SqlNumericFunctions,
        &[
            "abs", "ceil", "floor", "round", "sqrt", "power", "ln", "log10", "exp",
        ][..],
    );
    info.append(
        SqlInfo::SqlStringFunctions,
        &[
            "lower", "upper", "trim", "substr", "concat", "length", "replace",
        ][..],
    );
    info.append(
        SqlInfo::SqlDatetimeFunctions,
        &["now", "date_bin", "date_trunc", "date_part", "to_timestamp"][..],
    );
    info.append(SqlInfo::SqlSearchStringEscape, "\\");
    info.append(SqlInfo::SqlExtraNameCharacters, "/");
    info.append(SqlInfo::SqlSupportsColumnAliasing, true);
    info.append(SqlInfo::SqlNullPlusNullIsNull, true);
    info.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    info.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    info.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    info.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    info.append(SqlInfo::SqlCatalogTerm, "catalog");
    info.append(SqlInfo::SqlSchemaTerm, "directory");
    info.append(SqlInfo::SqlProcedureTerm, "procedure");
    info.append(SqlInfo::SqlCatalogAtStart, true);
    info.append(SqlInfo::SqlTransactionsSupported, true);
    info.build().expect("the fixed server facts build")
}

/// One row of GetXdbcTypeInfo.
fn xdbc(
    name: &str,
    data_type: XdbcDataType,
    column_size: Option<i32>,
    literal_quote: Option<&str>,
    radix: Option<i32>,
) -> XdbcTypeInfo {
    XdbcTypeInfo {
        type_name: name.into(),
        data_type,
        column_size,
        literal_prefix: literal_quote.map(Into::into),
        literal_suffix: literal_quote.map(Into::into),
        create_params: None,
        nullable: Nullable::NullabilityNullable,
        case_sensitive: literal_quote.is_some(),
        searchable: Searchable::Full,
        unsigned_attribute: radix.map(|_| false),
        fixed_prec_scale: false,
        auto_increment: Some(false),
        local_type_name: Some(name.into()),
        minimum_scale: None,
        maximum_scale: None,
        sql_data_type: data_type,
        datetime_subcode: None,
        num_prec_radix: radix,
        interval_precision: None,
    }
}

/// The SQL types a client can use in statements.
pub(crate) fn xdbc_types() -> XdbcTypeInfoData {
    use XdbcDataType as X;
    let mut types = XdbcTypeInfoDataBuilder::new();
    for info in [
        xdbc("BOOLEAN", X::XdbcBit, Some(1), None, None),
        xdbc("TINYINT", X::XdbcTinyint, Some(3), None, Some(10)),
        xdbc("BIGINT", X::XdbcBigint, Some(19), None, Some(10)),
        xdbc("VARBINARY", X::XdbcVarbinary, None, None, None),
        xdbc("VARCHAR", X::XdbcVarchar, None, Some("'"), None),
        xdbc("DECIMAL", X::XdbcDecimal, Some(38), None, Some(10)),
        xdbc("INTEGER", X::XdbcInteger, Some(10), None, Some(10)),
        xdbc("SMALLINT", X::XdbcSmallint, Some(5), None, Some(10)),
        xdbc("REAL", X::XdbcReal, Some(24), None, Some(2)),
        xdbc("DOUBLE", X::XdbcDouble, Some(53), None, Some(2)),
        xdbc("DATE", X::XdbcDate, Some(10), Some("'"), None),
        xdbc("TIMESTAMP", X::XdbcTimestamp, Some(26), Some("'"), None),
    ] {
        types.append(info);
    }
    types.build().expect("the fixed type list builds")
}

/// The schemas of catalog `pond`: `system` and every directory.
pub(crate) fn db_schemas(session: &PondSession, query: CommandGetDbSchemas) -> Result<RecordBatch> {
    let mut builder = query.into_builder();
    builder.append(CATALOG, SYSTEM_SCHEMA);
    builder.append(CATALOG, PondPath::root().to_string());
    for entry in session.tree().entries() {
        if entry.kind == Kind::Directory {
            builder.append(CATALOG, entry.path.to_string());
        }
    }
    builder.build().map_err(flight_error)
}

/// The tables, views and system tables, with their Arrow schemas if asked.
pub(crate) async fn tables(session: &PondSession, query: CommandGetTables) -> Result<RecordBatch> {
    let mut builder = query.into_builder();
    let catalog = session
        .context()
        .catalog(CATALOG)
        .expect("the pond catalog is registered");
    if let Some(system) = catalog.schema(SYSTEM_SCHEMA) {
        for name in system.table_names() {
            let schema = match (builder.include_schema(), system.table(&name).await?) {
                (true, Some(table)) => table.schema(),
                _ => Arc::new(Schema::empty()),
            };
            builder
                .append(
                    CATALOG,
                    SYSTEM_SCHEMA,
                    &name,
                    "SYSTEM TABLE",
                    &wire_schema(&schema),
                )
                .map_err(flight_error)?;
        }
    }
    // In the order Flight SQL asks for: by schema (directory), then name.
    let mut tables: Vec<(PondPath, TreeEntry)> = session
        .tree()
        .entries()
        .into_iter()
        .filter(|entry| entry.kind != Kind::Directory)
        .filter_map(|entry| Some((entry.path.parent()?, entry)))
        .collect();
    tables.sort_by(|(a, x), (b, y)| (a, x.path.name()).cmp(&(b, y.path.name())));
    for (dir, entry) in tables {
        let schema = entry.schema.unwrap_or_else(|| Arc::new(Schema::empty()));
        builder
            .append(
                CATALOG,
                dir.to_string(),
                entry.path.name(),
                table_type(entry.kind),
                &wire_schema(&schema),
            )
            .map_err(flight_error)?;
    }
    builder.build().map_err(flight_error)
}

fn flight_error(err: arrow_flight::error::FlightError) -> DataFusionError {
    DataFusionError::External(Box::new(err))
}

/// A schema as it crosses the wire: view types as their plain forms (not
/// every client reads Utf8View), dictionaries as their values (Flight's
/// encoder sends values).
pub(crate) fn wire_schema(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(wire_type(f.data_type())))
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

pub(crate) fn wire_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::Dictionary(_, value) => wire_type(value),
        other => other.clone(),
    }
}

/// Whether `schema` already crosses the wire as it is.
pub(crate) fn is_wire_ready(schema: &SchemaRef) -> bool {
    schema
        .fields()
        .iter()
        .all(|f| wire_type(f.data_type()) == *f.data_type())
}

pub(super) fn primary_keys_schema() -> Schema {
    Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ])
}

pub(super) fn foreign_keys_schema() -> Schema {
    Schema::new(vec![
        Field::new("pk_catalog_name", DataType::Utf8, true),
        Field::new("pk_db_schema_name", DataType::Utf8, true),
        Field::new("pk_table_name", DataType::Utf8, false),
        Field::new("pk_column_name", DataType::Utf8, false),
        Field::new("fk_catalog_name", DataType::Utf8, true),
        Field::new("fk_db_schema_name", DataType::Utf8, true),
        Field::new("fk_table_name", DataType::Utf8, false),
        Field::new("fk_column_name", DataType::Utf8, false),
        Field::new("key_sequence", DataType::Int32, false),
        Field::new("fk_key_name", DataType::Utf8, true),
        Field::new("pk_key_name", DataType::Utf8, true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ])
}

/// The (empty) answer to a keys command: the pond has no keys.
pub(super) fn empty_keys_schema(message: &Any) -> SchemaRef {
    if message.is::<CommandGetPrimaryKeys>() {
        Arc::new(primary_keys_schema())
    } else {
        Arc::new(foreign_keys_schema())
    }
}
