import { Injectable } from '@nestjs/common';
import { Broadcast, Bus, BusController, Rpc } from '@berth/bus';
import {
  AppendUploadChunk,
  BlobUnlinked,
  CancelUpload,
  CompleteUpload,
  DeleteBlob,
  GetUpload,
  MountBlob,
  StartUpload,
  StatBlob,
  type PayloadOfBroadcast,
  type RequestOf,
} from '@berth/contracts';
import { BlobstoreService } from './blobstore.service';

/** The blob and upload subjects on the bus, each handed to {@link BlobstoreService}. */
@Injectable()
export class BlobstoreBusController extends BusController {
  constructor(
    bus: Bus,
    private readonly service: BlobstoreService,
  ) {
    super(bus);
  }

  @Rpc(StatBlob)
  stat(r: RequestOf<typeof StatBlob>) {
    return this.service.stat(r.repository, r.digest);
  }

  @Rpc(DeleteBlob)
  delete(r: RequestOf<typeof DeleteBlob>) {
    return this.service.delete(r.repository, r.digest, r.requestId, r.actor);
  }

  @Rpc(MountBlob)
  mount(r: RequestOf<typeof MountBlob>) {
    return this.service.mount(r.repository, r.from, r.digest, r.requestId, r.actor);
  }

  @Rpc(StartUpload)
  start(r: RequestOf<typeof StartUpload>) {
    return this.service.start(r.repository);
  }

  @Rpc(GetUpload)
  session(r: RequestOf<typeof GetUpload>) {
    return this.service.session(r.repository, r.id);
  }

  @Rpc(AppendUploadChunk)
  append(r: RequestOf<typeof AppendUploadChunk>) {
    return this.service.append(r.repository, r.id, { offset: r.offset, size: r.size, path: r.path });
  }

  @Rpc(CompleteUpload)
  complete(r: RequestOf<typeof CompleteUpload>) {
    return this.service.complete(r);
  }

  @Rpc(CancelUpload)
  cancel(r: RequestOf<typeof CancelUpload>) {
    return this.service.cancel(r.repository, r.id);
  }

  @Broadcast(BlobUnlinked)
  unlinked(r: PayloadOfBroadcast<typeof BlobUnlinked>): void {
    this.service.forget(r.repository, r.digest);
  }
}
