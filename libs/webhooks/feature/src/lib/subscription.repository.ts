import { randomUUID } from 'node:crypto';
import { Prisma, type PrismaClient } from '@berth/db';
import type { WebhookEventType, WebhookFormat } from '@berth/webhooks-core';
import type { SealedTarget } from './delivery.repository';
import type { Subscription } from './model';

/** What routing needs of a subscription. */
export interface SubscriptionMatcher {
  readonly id: string;
  readonly project: string;
  readonly events: WebhookEventType[];
  readonly format: WebhookFormat;
  readonly repositories: string[] | null;
  readonly tags: string[] | null;
}

/** Where a delivery goes, opened. */
export interface DeliveryTarget {
  readonly url: string;
  readonly headers: Record<string, string> | null;
  readonly secrets: string[];
}
import type { SecretBox } from './secret-box';

interface SubscriptionRow {
  id: string;
  project: string;
  name: string;
  url: string;
  events: unknown;
  format: string;
  repositories: unknown;
  tags: unknown;
  headersSealed: string | null;
  secretSealed: string;
  previousSecretSealed: string | null;
  previousSecretExpiresAt: Date | null;
  enabled: boolean;
  disabledReason: string | null;
  failingSince: Date | null;
  consecutiveFailures: number;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

/** The settings of a subscription that can change. */
export interface SubscriptionChanges {
  readonly url: string;
  readonly events: readonly WebhookEventType[];
  readonly format: WebhookFormat;
  readonly headers: Readonly<Record<string, string>> | null;
  readonly repositories: readonly string[] | null;
  readonly tags: readonly string[] | null;
  readonly enabled: boolean;
}

/** How many opened seals {@link SubscriptionRepository.openTarget} keeps. */
const OPENED_MAX = 1_000;

/**
 * Webhook subscriptions. Secrets and headers are sealed on the way in and opened on the way out,
 * so nothing above this class sees a sealed value and nothing below it a clear one.
 */
export class SubscriptionRepository {
  /**
   * Sealed values opened, by their sealed text: every attempt opens its target's secrets and
   * headers, and a sealed text never changes its meaning (a new secret is a new seal).
   */
  private readonly opened = new Map<string, string>();

  constructor(
    private readonly db: PrismaClient,
    private readonly box: SecretBox,
  ) {}

  /** Creates a subscription; null when the project already has one of that name. */
  async create(
    project: string,
    name: string,
    settings: SubscriptionChanges,
    secret: string,
    createdBy: string,
  ): Promise<Subscription | null> {
    try {
      const row = await this.db.webhookSubscription.create({
        data: {
          id: randomUUID(),
          project,
          name,
          ...this.settingsData(settings),
          secretSealed: this.box.seal(secret),
          createdBy,
        },
      });
      return this.toSubscription(row);
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') return null;
      throw error;
    }
  }

  async find(project: string, id: string): Promise<Subscription | null> {
    const row = await this.db.webhookSubscription.findFirst({ where: { project, id } });
    return row ? this.toSubscription(row) : null;
  }

  async list(project: string): Promise<Subscription[]> {
    const rows = await this.db.webhookSubscription.findMany({ where: { project }, orderBy: { name: 'asc' } });
    return rows.map((row) => this.toSubscription(row));
  }

  /** Changes a subscription's settings; enabling it again clears why it was disabled. */
  async update(project: string, id: string, settings: SubscriptionChanges): Promise<Subscription | null> {
    const { count } = await this.db.webhookSubscription.updateMany({
      where: { project, id },
      data: {
        ...this.settingsData(settings),
        ...(settings.enabled && { disabledReason: null }),
        updatedAt: new Date(),
      },
    });
    return count === 0 ? null : this.find(project, id);
  }

  /** Deletes a subscription with its deliveries; false when there was none. */
  async delete(project: string, id: string): Promise<boolean> {
    const { count } = await this.db.webhookSubscription.deleteMany({ where: { project, id } });
    return count > 0;
  }

  /** Replaces the secret; the old one keeps signing (besides the new one) until `overlapUntil`. */
  async rotateSecret(project: string, id: string, secret: string, overlapUntil: Date): Promise<boolean> {
    const current = await this.db.webhookSubscription.findFirst({ where: { project, id } });
    if (!current) return false;
    await this.db.webhookSubscription.update({
      where: { id },
      data: {
        secretSealed: this.box.seal(secret),
        previousSecretSealed: overlapUntil > new Date() ? current.secretSealed : null,
        previousSecretExpiresAt: overlapUntil > new Date() ? overlapUntil : null,
        updatedAt: new Date(),
      },
    });
    return true;
  }

  /**
   * What the enabled subscriptions of some projects match, for routing events: no secrets are
   * opened for it.
   */
  async matchersIn(projects: readonly string[]): Promise<SubscriptionMatcher[]> {
    const rows = await this.db.webhookSubscription.findMany({
      where: { project: { in: [...projects] }, enabled: true },
      select: { id: true, project: true, events: true, format: true, repositories: true, tags: true },
      orderBy: { createdAt: 'asc' },
    });
    return rows.map((row) => ({
      id: row.id,
      project: row.project,
      events: row.events as WebhookEventType[],
      format: row.format as WebhookFormat,
      repositories: (row.repositories as string[] | null) ?? null,
      tags: (row.tags as string[] | null) ?? null,
    }));
  }

  /** Opens the sealed target of a claimed delivery: its URL, extra headers and signing secrets. */
  openTarget(target: SealedTarget): DeliveryTarget {
    return {
      url: target.url,
      headers:
        target.headersSealed === null
          ? null
          : (JSON.parse(this.open(target.headersSealed)) as Record<string, string>),
      secrets: this.secretsOf(target),
    };
  }

  /** Turns a subscription off, with the reason (e.g. the target answered 410 Gone). */
  async disable(id: string, reason: string): Promise<void> {
    await this.db.webhookSubscription.update({
      where: { id },
      data: { enabled: false, disabledReason: reason.slice(0, 1000), updatedAt: new Date() },
    });
  }

  private settingsData(settings: SubscriptionChanges) {
    return {
      url: settings.url,
      events: [...settings.events],
      format: settings.format,
      headersSealed: settings.headers === null ? null : this.box.seal(JSON.stringify(settings.headers)),
      repositories: settings.repositories === null ? Prisma.DbNull : [...settings.repositories],
      tags: settings.tags === null ? Prisma.DbNull : [...settings.tags],
      enabled: settings.enabled,
    };
  }

  /** The current secret, then the previous one while its overlap lasts. */
  private secretsOf(target: Omit<SealedTarget, 'url' | 'headersSealed'>): string[] {
    const previous =
      target.previousSecretSealed !== null &&
      target.previousSecretExpiresAt !== null &&
      target.previousSecretExpiresAt > new Date()
        ? [this.open(target.previousSecretSealed)]
        : [];
    return [this.open(target.secretSealed), ...previous];
  }

  /** A sealed value opened, from {@link opened} when it was opened before. */
  private open(sealed: string): string {
    let value = this.opened.get(sealed);
    if (value === undefined) {
      // Bounded: the live subscriptions' few seals, not every one ever seen.
      if (this.opened.size >= OPENED_MAX) this.opened.clear();
      value = this.box.open(sealed);
      this.opened.set(sealed, value);
    }
    return value;
  }

  private toSubscription(row: SubscriptionRow): Subscription {
    return {
      id: row.id,
      project: row.project,
      name: row.name,
      url: row.url,
      events: row.events as WebhookEventType[],
      format: row.format as WebhookFormat,
      repositories: (row.repositories as string[] | null) ?? null,
      tags: (row.tags as string[] | null) ?? null,
      headers:
        row.headersSealed === null
          ? null
          : (JSON.parse(this.open(row.headersSealed)) as Record<string, string>),
      secrets: this.secretsOf(row),
      enabled: row.enabled,
      disabledReason: row.disabledReason,
      failingSince: row.failingSince,
      consecutiveFailures: row.consecutiveFailures,
      createdBy: row.createdBy,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  }
}
