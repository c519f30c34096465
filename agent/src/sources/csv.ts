/** CSV reading shared by the replay and its events files: header by name, tolerant of short rows. */
import { closeSync, createReadStream, openSync, readFileSync, readSync } from 'node:fs';
import { parse, type Options } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { PdmError } from '@pdm/protocol';
import type { RowFilter } from '../config/schema.js';
import { parseEventTime } from './time.js';

// bom: AI4I starts with a byte-order mark; relax_column_count: a short row becomes missing values
// (counted as rejected readings) instead of an error that would end the replay.
const OPTIONS: Options = { bom: true, trim: true, skip_empty_lines: true, relax_column_count: true };

export interface CsvRows {
  readonly header: readonly string[];
  readonly rows: AsyncIterator<string[]>;
  close(): void;
}

/** Opens a CSV file as a stream of rows; reads the header first so column errors surface at start. */
export async function openCsv(file: string): Promise<CsvRows> {
  const stream = createReadStream(file);
  const parser = stream.pipe(parse(OPTIONS));
  stream.once('error', (err) => parser.destroy(err));
  const rows = parser[Symbol.asyncIterator]() as AsyncIterator<string[]>;
  let first: IteratorResult<string[]>;
  try {
    first = await rows.next();
  } catch (cause) {
    throw new PdmError('SOURCE_FAILED', `cannot read CSV file ${file}`, { cause, context: { file } });
  }
  if (first.done === true) throw new PdmError('SOURCE_FAILED', `CSV file ${file} is empty`, { context: { file } });
  return { header: first.value, rows, close: () => parser.destroy() };
}

/** Reads a small CSV file whole, as objects keyed by header. */
export function readCsvObjects(file: string): Record<string, string>[] {
  try {
    return parseSync(readFileSync(file), { ...OPTIONS, columns: true }) as unknown as Record<string, string>[];
  } catch (cause) {
    throw new PdmError('SOURCE_FAILED', `cannot read CSV file ${file}`, { cause, context: { file } });
  }
}

const HEADER_BYTES = 64 * 1024;

/**
 * The header of a CSV file, read synchronously from its first 64 KiB (models are checked against the
 * source's columns before the replay opens the file); undefined when the file cannot be read.
 */
export function readCsvHeader(file: string): string[] | undefined {
  let text: string;
  try {
    const fd = openSync(file, 'r');
    try {
      const buffer = Buffer.alloc(HEADER_BYTES);
      text = buffer.subarray(0, readSync(fd, buffer, 0, HEADER_BYTES, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const end = text.search(/\r?\n/);
  try {
    const rows = parseSync(end < 0 ? text : text.slice(0, end), OPTIONS) as unknown as string[][];
    return rows[0];
  } catch {
    return undefined;
  }
}

/** Index of each wanted column in the header; fails listing every missing one. */
export function columnIndexes(file: string, header: readonly string[], wanted: readonly string[]): number[] {
  const missing = wanted.filter((c) => !header.includes(c));
  if (missing.length > 0) {
    throw new PdmError('SOURCE_FAILED', `CSV file ${file} lacks column(s) ${missing.map((c) => `"${c}"`).join(', ')}`, {
      context: { file, missing, header: header.slice(0, 32) },
    });
  }
  return wanted.map((c) => header.indexOf(c));
}

export interface TimedRows {
  /** Rows passing the filter, in file order, each with its event time. */
  readonly rows: { readonly time: number; readonly row: Record<string, string> }[];
  /** Rows passing the filter whose time could not be read. */
  readonly unreadable: number;
}

/** A small file of timed records (events, log entries): fails naming every missing column. */
export function readTimedRows(file: string, timeColumn: string, filter: RowFilter | undefined, required: readonly string[] = []): TimedRows {
  const objects = readCsvObjects(file);
  if (objects.length > 0) columnIndexes(file, Object.keys(objects[0]!), [timeColumn, ...required, ...(filter === undefined ? [] : [filter.column])]);
  const rows: { time: number; row: Record<string, string> }[] = [];
  let unreadable = 0;
  for (const row of objects) {
    if (filter !== undefined && row[filter.column] !== filter.value) continue;
    const time = parseEventTime(row[timeColumn] ?? '');
    if (time === undefined) unreadable++;
    else rows.push({ time, row });
  }
  return { rows, unreadable };
}
