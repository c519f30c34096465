/**
 * CSV reading for the training data. Files are small (a few MB), so they are parsed synchronously in one
 * go; a UTF-8 byte-order mark (AI4I 2020) is stripped and both LF and CRLF line endings are accepted.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { PdmError } from '@pdm/protocol';

export type CsvRow = Record<string, string>;

/** Reads a CSV file with a header line into one object per row, every value a string. */
export function readCsv(path: string): CsvRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new PdmError('NOT_FOUND', `cannot read data file ${path}`, { cause, context: { path } });
  }
  try {
    return parse(text, { columns: true, bom: true, skip_empty_lines: true, trim: true }) as CsvRow[];
  } catch (cause) {
    throw new PdmError('INTERNAL', `cannot parse CSV file ${path}`, { cause, context: { path } });
  }
}

/** The named column of a row, or a precise error naming file, row and column. */
export function column(row: CsvRow, name: string, where: string): string {
  const value = row[name];
  if (value === undefined) {
    throw new PdmError('INTERNAL', `${where}: missing column "${name}"`, { context: { columns: Object.keys(row) } });
  }
  return value;
}

/** A finite number from a column, or a precise error. */
export function numberColumn(row: CsvRow, name: string, where: string): number {
  const text = column(row, name, where);
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) {
    throw new PdmError('INTERNAL', `${where}: column "${name}" is not a finite number: "${text}"`);
  }
  return value;
}
