// Kysely's PostgreSQL introspector lists every table of every schema and calls
// has_schema_privilege() and pg_get_serial_sequence() on each schema's name.
// When another connection drops a schema during that scan (another node's
// test, an operator cleaning up), those functions fail with "schema ... does
// not exist" and our migration fails with them. Rampart keeps all its tables
// in one schema (search_path), so this introspector reads that schema only,
// from the catalogs, without per-name function calls. Kysely's Migrator uses
// it to find its migration tables.
import { PostgresDialect, sql } from 'kysely';
import type { ColumnMetadata, DatabaseIntrospector, Kysely, PostgresDialectConfig, SchemaMetadata, TableMetadata } from 'kysely';

interface ColumnRow {
  table: string;
  kind: string;
  column: string;
  not_null: boolean;
  has_default: boolean;
  auto_increment: boolean;
  type: string;
  type_schema: string;
  comment: string | null;
}

export class SchemaIntrospector implements DatabaseIntrospector {
  readonly #db: Kysely<unknown>;
  readonly #schema: string;

  constructor(db: Kysely<unknown>, schema: string) {
    this.#db = db;
    this.#schema = schema;
  }

  async getSchemas(): Promise<SchemaMetadata[]> {
    const r = await sql<{ name: string }>`select nspname as name from pg_catalog.pg_namespace order by nspname`.execute(this.#db);
    return r.rows.map((x) => ({ name: x.name }));
  }

  async getTables(): Promise<TableMetadata[]> {
    const r = await sql<ColumnRow>`
      select c.relname as "table", c.relkind as kind, a.attname as "column", a.attnotnull as not_null,
             a.atthasdef as has_default,
             (a.attidentity <> '' or coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid) like 'nextval(%', false)) as auto_increment,
             t.typname as type, tn.nspname as type_schema, pg_catalog.col_description(a.attrelid, a.attnum) as comment
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        join pg_catalog.pg_attribute a on a.attrelid = c.oid
        join pg_catalog.pg_type t on t.oid = a.atttypid
        join pg_catalog.pg_namespace tn on tn.oid = t.typnamespace
        left join pg_catalog.pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
       where n.nspname = ${this.#schema} and c.relkind in ('r', 'v', 'p', 'm', 'f')
         and a.attnum >= 1 and not a.attisdropped
       order by c.relname, a.attnum`.execute(this.#db);
    const tables = new Map<string, { name: string; isView: boolean; isForeign: boolean; schema: string; columns: ColumnMetadata[] }>();
    for (const row of r.rows) {
      let t = tables.get(row.table);
      if (!t) {
        t = { name: row.table, isView: row.kind === 'v' || row.kind === 'm', isForeign: row.kind === 'f', schema: this.#schema, columns: [] };
        tables.set(row.table, t);
      }
      const col: ColumnMetadata = {
        name: row.column,
        dataType: row.type,
        dataTypeSchema: row.type_schema,
        isNullable: !row.not_null,
        isAutoIncrementing: row.auto_increment,
        hasDefaultValue: row.has_default,
        ...(row.comment !== null ? { comment: row.comment } : {}),
      };
      t.columns.push(col);
    }
    return [...tables.values()];
  }

  async getMetadata(): Promise<{ tables: TableMetadata[] }> {
    return { tables: await this.getTables() };
  }
}

/** PostgresDialect whose introspector reads one schema only (see above). */
export class SchemaPostgresDialect extends PostgresDialect {
  readonly #schema: string;

  constructor(config: PostgresDialectConfig, schema: string) {
    super(config);
    this.#schema = schema;
  }

  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SchemaIntrospector(db, this.#schema);
  }
}
