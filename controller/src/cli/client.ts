/**
 * pdmctl's HTTP client for the controller API. Sends the bearer token when one is set, parses JSON,
 * and turns an error body `{error:{code,message,context}}` into a PdmError with the server's code so
 * the CLI prints the server's own words. Network failures become LINK_FAILED naming the URL.
 */
import { PdmError, errorCodes, type PdmErrorCode } from '@pdm/protocol';

export interface ApiClientOptions {
  /** Base URL of the controller, e.g. http://127.0.0.1:8080 */
  url: string;
  token?: string | undefined;
  fetch?: typeof globalThis.fetch;
}

export class ApiClient {
  private readonly base: string;

  constructor(private readonly options: ApiClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  get<T = unknown>(path: string, query?: Record<string, string | number | undefined>): Promise<T> {
    return this.request<T>('GET', withQuery(path, query));
  }

  post<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token !== undefined && this.options.token !== '') headers.authorization = `Bearer ${this.options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const url = `${this.base}${path}`;
    let res: Response;
    try {
      res = await (this.options.fetch ?? globalThis.fetch)(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new PdmError('LINK_FAILED', `cannot reach the controller at ${this.base}`, { cause: err, context: { url } });
    }
    const text = await res.text();
    const json = parseJson(text);
    if (!res.ok) throw toApiError(res.status, json, url);
    return json as T;
  }
}

function withQuery(path: string, query?: Record<string, string | number | undefined>): string {
  if (query === undefined) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const qs = params.toString();
  return qs === '' ? path : `${path}?${qs}`;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function toApiError(status: number, json: unknown, url: string): PdmError {
  const err = (json as { error?: { code?: unknown; message?: unknown; context?: unknown } } | undefined)?.error;
  const code = typeof err?.code === 'string' && (errorCodes as string[]).includes(err.code) ? (err.code as PdmErrorCode) : 'INTERNAL';
  const message = typeof err?.message === 'string' ? err.message : `HTTP ${status}`;
  const context = typeof err?.context === 'object' && err.context !== null ? (err.context as Record<string, unknown>) : {};
  return new PdmError(code, message, { context: { ...context, httpStatus: status, url } });
}
