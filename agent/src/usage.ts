/** The text of `pdm-agent --help`, with every configuration field read from the schema. */
import { configFields, envName, flagName } from './config/fields.js';

export function usage(): string {
  const lines = [
    'Usage: pdm-agent [--config agent.json] [--<field> value | --<field>=value]...',
    '       pdm-agent health [--config agent.json] [--timeout-ms 5000]   (asks the running agent\'s healthPort;',
    '             exit 0 healthy, 1 unhealthy, 2 no healthPort or bad config, 3 no answer)',
    '       pdm-agent --version | --help',
    '',
    'Runs the pdm edge agent: sensor source -> ONNX inference -> SQLite outbox -> MQTT.',
    'Configuration: the JSON file, then PDM_AGENT_* environment variables, then flags; later ones win.',
    'Nested fields: flags use dots (--source.speed=3600), env uses "__" (PDM_AGENT_SOURCE__SPEED=3600).',
    'Objects and arrays are given as JSON (--source.events-files=\'[{"file":"f.csv","type":"failure"}]\').',
    'Exit codes: 0 clean stop, 1 failure, 2 invalid configuration (every problem is listed).',
    '',
    'Fields:',
  ];
  for (const f of configFields()) {
    const inArray = f.path.includes('[]');
    const head = inArray ? `  ${f.path}` : `  ${flagName(f.path)}  (${envName(f.path)})`;
    const detail = [f.type, f.required ? 'required' : f.default === undefined ? 'optional' : `default ${JSON.stringify(f.default)}`];
    lines.push(head, `      ${detail.join('; ')}: ${f.description}`);
  }
  return `${lines.join('\n')}\n`;
}
