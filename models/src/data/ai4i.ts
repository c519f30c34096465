/**
 * AI4I 2020 (models/data/ai4i2020, see its PROVENANCE.md): 10,000 independent process snapshots. The
 * CSV's column names carry units and spaces; the model's signal names are identifiers, so this is
 * the column mapping a CSV replay on the agent uses too.
 */
import { join } from 'node:path';
import { column, numberColumn, readCsv } from './csv.js';

export const AI4I_COLUMNS = {
  type: 'Type',
  air_temperature: 'Air temperature [K]',
  process_temperature: 'Process temperature [K]',
  rotational_speed: 'Rotational speed [rpm]',
  torque: 'Torque [Nm]',
  tool_wear: 'Tool wear [min]',
} as const;
export type Ai4iSignal = keyof typeof AI4I_COLUMNS;

export const AI4I_MODES = ['TWF', 'HDF', 'PWF', 'OSF', 'RNF'] as const;

export interface Ai4iRow {
  udi: number;
  /** Failure-mode flags set on this row, e.g. ['HDF'] (empty for most rows). */
  modes: string[];
  /** Raw strings as in the file, keyed by signal name. */
  raw: Record<Ai4iSignal, string>;
  failure: 0 | 1;
}

export function loadAi4i(dataDir: string): Ai4iRow[] {
  const path = join(dataDir, 'ai4i2020.csv');
  return readCsv(path).map((row, i) => {
    const where = `${path} row ${i + 2}`;
    const raw = Object.fromEntries(
      Object.entries(AI4I_COLUMNS).map(([signal, name]) => [signal, column(row, name, where)]),
    ) as Record<Ai4iSignal, string>;
    const modes = AI4I_MODES.filter((m) => numberColumn(row, m, where) === 1);
    return { udi: numberColumn(row, 'UDI', where), modes, raw, failure: numberColumn(row, 'Machine failure', where) === 1 ? 1 : 0 };
  });
}
