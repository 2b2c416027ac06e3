// Request/response correlation over the IPC channel to the core, with a
// deadline: a core that does not answer in time yields a 503, never a hang.
import type { EnrollRequest, MdmRequest, ResponseMessage } from '../ipc/messages.ts';

export interface IpcChannel {
  send(message: unknown): void;
}

export function createIpcClient(channel: IpcChannel, timeoutMs: number, maxPending = 10_000) {
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: ResponseMessage) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  function send(t: 'mdm' | 'enroll', req: object): Promise<ResponseMessage> {
    if (pending.size >= maxPending) return Promise.reject(new Error('too many pending requests'));
    const id = nextId++;
    if (nextId > Number.MAX_SAFE_INTEGER) nextId = 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('core timeout'));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      channel.send({ t, id, ...req });
    });
  }
  return {
    request(req: Omit<MdmRequest, 'id' | 't'>): Promise<ResponseMessage> {
      return send('mdm', req);
    },
    enroll(req: Omit<EnrollRequest, 'id' | 't'>): Promise<ResponseMessage> {
      return send('enroll', req);
    },
    /** Feed a response from the core; unknown or malformed responses are dropped. */
    onResponse(msg: ResponseMessage): void {
      if (typeof msg.id !== 'number') return;
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      clearTimeout(p.timer);
      if (!Number.isInteger(msg.status) || msg.status < 200 || msg.status > 599) {
        p.reject(new Error('bad response from core'));
        return;
      }
      p.resolve(msg);
    },
    pendingCount(): number {
      return pending.size;
    },
  };
}
