// The one interface every part of Rampart uses to put an event on record.
// The tamper-evident log (src/audit/log) implements it. record() resolves only
// once the event is durable: an acknowledged event survives kill -9.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

export type ActorType = 'admin' | 'token' | 'device' | 'gateway' | 'system' | 'anonymous';

export interface AuditEvent {
  /** Dotted verb, e.g. "device.authenticate", "command.enqueue", "admin.login". */
  action: string;
  actor: { type: ActorType; id: string };
  /** Source address (IP) when there is one. */
  source?: string;
  target?: { type: string; id: string };
  outcome: 'success' | 'failure' | 'denied';
  requestId?: string;
  /** Never personal data in plaintext: ids and counts only. */
  details?: { [k: string]: JsonValue };
  /** Set by the log when absent. */
  time?: string;
}

export interface AuditRecorder {
  record(event: AuditEvent): Promise<void>;
}

/**
 * Whether the log already holds an entry. Services use it to record an event
 * exactly once across crashes: they record before the state change, and on a
 * retry (after a crash between the two) find the entry and do not write it again.
 */
export interface AuditLookup {
  has(q: { action: string; actorId: string; targetId?: string; from?: string; outcome?: AuditEvent['outcome'] }): Promise<boolean>;
}
