import { Inject, Injectable } from '@nestjs/common';
import { Bus, BusController, Rpc } from '@berth/bus';
import { GetWebhooksApiDocument, type ApiDocument, type RequestOf } from '@berth/contracts';
import { webhooksApiDocument } from './api/webhooks.routes';

/**
 * The webhooks subjects on the bus: the document of its part of `/api/v1`, which auth merges into
 * the document it serves for all of `/api/v1`.
 */
@Injectable()
export class WebhooksBusController extends BusController {
  private readonly document = webhooksApiDocument();

  // Declared for Nest, which reads what to inject from the class it makes, not from its base.
  constructor(@Inject(Bus) bus: Bus) {
    super(bus);
  }

  @Rpc(GetWebhooksApiDocument)
  apiDocument(_request: RequestOf<typeof GetWebhooksApiDocument>): Promise<ApiDocument> {
    return Promise.resolve(this.document);
  }
}
