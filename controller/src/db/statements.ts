/**
 * Prepared statements by their SQL text, for repositories whose queries run on hot paths (every device
 * status): compiling SQL costs more than running these statements, so each is prepared once, on first
 * use. One call site per SQL text: `pluck()` and `raw()` change the cached statement itself.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Db } from './database.js';

export type Prepare = (sql: string) => BetterSqlite3.Statement;

export function statementCache(db: Db): Prepare {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return (sql) => {
    let statement = cache.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      cache.set(sql, statement);
    }
    return statement;
  };
}
