// The fixed bodies both planes send with an error status: short, constant,
// never derived from the request.
const STATUS_TEXT: Readonly<Record<number, string>> = Object.freeze({
  400: 'bad request\n',
  401: 'unauthorized\n',
  403: 'forbidden\n',
  404: 'not found\n',
  408: 'request timeout\n',
  409: 'conflict\n',
  410: 'gone\n',
  411: 'length required\n',
  413: 'payload too large\n',
  415: 'unsupported media type\n',
  422: 'unprocessable\n',
  429: 'too many requests\n',
  500: 'internal error\n',
  503: 'service unavailable\n',
});

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'error\n';
}
