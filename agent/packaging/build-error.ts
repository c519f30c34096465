/**
 * The one error the packaging tools throw: which build step failed, why, and the details (a command's
 * exit code, a file that is missing). The agent's PdmError catalogue is for the running agent and its
 * protocol; a failed build is a developer's problem and never crosses the wire.
 */
export class BuildError extends Error {
  readonly step: string;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(step: string, message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(`${step}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BuildError';
    this.step = step;
    this.context = options.context ?? {};
  }
}
