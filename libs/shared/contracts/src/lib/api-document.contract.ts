import { z } from 'zod';
import { rpc, type RpcContract } from './contract';

const jsonObject = z.record(z.string(), z.unknown());

/**
 * An OpenAPI 3.1 document as JSON: one service's part of `/api/v1`, generated from its route
 * declarations, or the whole of them merged. Only the members that merging needs are named; the
 * rest passes through as it is.
 */
export const ApiDocumentSchema = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string(), description: z.string().optional() }),
  tags: z.array(z.looseObject({ name: z.string(), description: z.string().optional() })).optional(),
  /** Path templates (`/api/v1/users/{username}`) to their path items. */
  paths: z.record(z.string(), jsonObject),
  /** Sections (`schemas`, `securitySchemes`, …) to their named components. */
  components: z.record(z.string(), jsonObject).optional(),
});

/** An OpenAPI 3.1 document (see {@link ApiDocumentSchema}). */
export type ApiDocument = z.output<typeof ApiDocumentSchema>;

/** The OpenAPI document of the webhooks service's part of `/api/v1`, from whichever instance. */
export const GetWebhooksApiDocument = rpc('berth.rpc.webhooks.openapi.v1', z.object({}), ApiDocumentSchema, {
  // A reader waits on it: better a document without this part than a page that hangs.
  timeoutMs: 5_000,
});

/** A service other than auth that serves part of `/api/v1`, and how to ask for its document. */
export interface ApiDocumentPart {
  /** The service's name, as in `/api/v1/openapi/{service}.json`. */
  readonly service: string;
  readonly contract: RpcContract<Record<string, never>, ApiDocument>;
}

/**
 * Every service besides auth with a part of `/api/v1`. Auth serves `/api/v1` (the ingress routes
 * the rest there) and the merged document of them all: its own part and these, each asked of its
 * service, so that no service describes another's routes.
 */
export const API_DOCUMENT_PARTS: readonly ApiDocumentPart[] = [
  { service: 'webhooks', contract: GetWebhooksApiDocument },
];
