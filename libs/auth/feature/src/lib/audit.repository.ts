import type { PrismaClient } from '@berth/db';
import type { AuditEntry, AuditOutcome } from './model';

/** What to write to the audit log. */
export interface AuditRecord {
  readonly actor: string;
  readonly sourceAddress: string | null;
  readonly action: string;
  readonly resource?: string | null;
  readonly outcome: AuditOutcome;
  readonly detail?: Record<string, unknown>;
}

/** Filters of an audit query; every one is optional. */
export interface AuditFilter {
  readonly actor?: string;
  readonly action?: string;
  readonly outcome?: AuditOutcome;
  readonly since?: Date;
  readonly until?: Date;
}

/** The audit log: append-only. */
export class AuditRepository {
  constructor(private readonly db: PrismaClient) {}

  async append(record: AuditRecord): Promise<void> {
    await this.db.auditLog.create({
      data: {
        actor: record.actor,
        sourceAddress: record.sourceAddress,
        action: record.action,
        resource: record.resource ?? null,
        outcome: record.outcome,
        ...(record.detail !== undefined && { detail: JSON.parse(JSON.stringify(record.detail)) as object }),
      },
    });
  }

  /** One page of entries, newest first; `more` says whether another page follows. */
  async query(
    filter: AuditFilter,
    offset: number,
    limit: number,
  ): Promise<{ entries: AuditEntry[]; more: boolean }> {
    const rows = await this.db.auditLog.findMany({
      where: {
        ...(filter.actor !== undefined && { actor: filter.actor }),
        ...(filter.action !== undefined && { action: filter.action }),
        ...(filter.outcome !== undefined && { outcome: filter.outcome }),
        ...((filter.since !== undefined || filter.until !== undefined) && {
          occurredAt: {
            ...(filter.since !== undefined && { gte: filter.since }),
            ...(filter.until !== undefined && { lt: filter.until }),
          },
        }),
      },
      orderBy: [{ occurredAt: 'desc' }, { id: 'desc' }],
      skip: offset,
      take: limit + 1,
    });
    return {
      entries: rows.slice(0, limit).map((row) => ({
        id: row.id.toString(),
        occurredAt: row.occurredAt,
        actor: row.actor,
        sourceAddress: row.sourceAddress,
        action: row.action,
        resource: row.resource,
        outcome: row.outcome as AuditOutcome,
        detail: row.detail,
      })),
      more: rows.length > limit,
    };
  }
}
