import type { Logger } from 'pino';
import type { AuditRecord, AuditRepository } from './audit.repository';

/**
 * Writes the audit log. An audit write that fails is logged as an error and does not fail the
 * request it records: a database hiccup must not lock everyone out of the registry.
 */
export class Auditor {
  constructor(
    private readonly audit: AuditRepository,
    private readonly logger: Logger,
  ) {}

  /** Records a successful change made through the management API. */
  change(
    actor: {
      readonly subject: string;
      readonly sourceAddress: string | null;
      readonly requestId: string | null;
    },
    action: string,
    resource: string,
    detail: Record<string, unknown> = {},
  ): Promise<void> {
    return this.record({
      actor: actor.subject,
      sourceAddress: actor.sourceAddress,
      action,
      resource,
      outcome: 'success',
      detail: { ...detail, requestId: actor.requestId },
    });
  }

  async record(record: AuditRecord): Promise<void> {
    try {
      // A failed login records the name as sent, made storable (a U+0000 or a lone surrogate in it).
      const actor = record.actor.slice(0, 256).replaceAll('\u0000', '\ufffd').toWellFormed();
      await this.audit.append({ ...record, actor });
    } catch (error) {
      this.logger.error({ err: error, audit: record }, 'audit write failed');
    }
  }
}
