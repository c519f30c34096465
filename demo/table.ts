import Table from 'cli-table3';

export function printTable(head: string[], rows: unknown[][]): void {
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const row of rows) table.push(row.map((c) => String(c)));
  console.log(table.toString());
}
