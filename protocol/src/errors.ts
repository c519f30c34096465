/**
 * The one error catalogue of pdm. Every error the agent, the controller or the CLI raises on purpose
 * has a code declared here, once, with its HTTP status. Codes are never reused for another meaning.
 * protocol/README.md documents every code; a test fails when one is missing there.
 */
export const errorCatalogue = {
  CONFIG_INVALID: { http: 500, text: 'configuration is invalid' },
  PAYLOAD_TOO_LARGE: { http: 413, text: 'payload is larger than the limit for its topic' },
  PAYLOAD_NOT_JSON: { http: 400, text: 'payload is not valid UTF-8 JSON' },
  PAYLOAD_INVALID: { http: 400, text: 'payload does not match the schema for its topic' },
  TOPIC_INVALID: { http: 400, text: 'topic is not a pdm topic' },
  TOPIC_DIRECTION: { http: 403, text: 'topic is not one this client may publish to' },
  DEVICE_MISMATCH: { http: 403, text: 'deviceId in the payload differs from the deviceId in the topic' },
  NOT_FOUND: { http: 404, text: 'resource not found' },
  REQUEST_INVALID: { http: 400, text: 'request does not match the schema for its route' },
  READING_INVALID: { http: 422, text: 'sensor reading rejected' },
  SOURCE_FAILED: { http: 500, text: 'sensor source failed' },
  MODEL_CARD_INVALID: { http: 400, text: 'model card does not match the model card schema' },
  MODEL_LOAD_FAILED: { http: 400, text: 'model file could not be loaded by onnxruntime' },
  MODEL_SPEC_MISMATCH: { http: 400, text: 'model inputs or outputs do not match its feature spec' },
  MANIFEST_REJECTED: { http: 422, text: 'signed manifest or key set refused' },
  INFERENCE_FAILED: { http: 500, text: 'inference failed' },
  OUTBOX_FAILED: { http: 500, text: 'outbox storage failed' },
  STATE_INVALID: { http: 500, text: 'a state kept across a restart is unreadable' },
  LINK_FAILED: { http: 503, text: 'MQTT link failed' },
  COMMAND_TIMEOUT: { http: 504, text: 'device did not reply to the command in time' },
  DB_MIGRATION_FAILED: { http: 500, text: 'database migration failed' },
  COMMAND_UNSUPPORTED: { http: 501, text: 'this agent does not handle that command type' },
  UNAUTHORIZED: { http: 401, text: 'a valid API token is required' },
  FORBIDDEN: { http: 403, text: 'the API token\'s role may not do this' },
  CONFLICT: { http: 409, text: 'the request conflicts with the current state of the resource' },
  INTERNAL: { http: 500, text: 'internal error' },
} as const satisfies Record<string, { http: number; text: string }>;

export type PdmErrorCode = keyof typeof errorCatalogue;
export const errorCodes = Object.keys(errorCatalogue) as PdmErrorCode[];

export interface PdmErrorOptions {
  cause?: unknown;
  /** Structured detail for logs and API bodies; never secrets, never raw untrusted payloads. */
  context?: Record<string, unknown>;
}

export class PdmError extends Error {
  override readonly name = 'PdmError';
  readonly code: PdmErrorCode;
  readonly context: Record<string, unknown>;

  constructor(code: PdmErrorCode, message: string = errorCatalogue[code].text, options: PdmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
  }

  get httpStatus(): number {
    return errorCatalogue[this.code].http;
  }

  toJSON(): { code: PdmErrorCode; message: string; context: Record<string, unknown> } {
    return { code: this.code, message: this.message, context: this.context };
  }
}

export function isPdmError(value: unknown, code?: PdmErrorCode): value is PdmError {
  return value instanceof PdmError && (code === undefined || value.code === code);
}
