import { Injectable } from '@nestjs/common';
import { Broadcast, Bus, BusController, Rpc } from '@berth/bus';
import {
  DeleteManifest,
  ListReferrers,
  ListRepositories,
  ListTags,
  PutManifest,
  RepositoryChanged,
  ResolveManifest,
  type PayloadOfBroadcast,
  type RequestOf,
} from '@berth/contracts';
import { MetadataService } from './metadata.service';

/** The metadata subjects on the bus, each handed to {@link MetadataService}. */
@Injectable()
export class MetadataBusController extends BusController {
  constructor(
    bus: Bus,
    private readonly service: MetadataService,
  ) {
    super(bus);
  }

  @Rpc(ResolveManifest)
  resolve(request: RequestOf<typeof ResolveManifest>) {
    return this.service.resolve(request.repository, request.reference);
  }

  @Rpc(PutManifest)
  put(request: RequestOf<typeof PutManifest>) {
    return this.service.put(request);
  }

  @Rpc(DeleteManifest)
  delete(request: RequestOf<typeof DeleteManifest>) {
    return this.service.delete(request);
  }

  @Rpc(ListTags)
  listTags(request: RequestOf<typeof ListTags>) {
    return this.service.listTags(request);
  }

  @Rpc(ListRepositories)
  listRepositories(request: RequestOf<typeof ListRepositories>) {
    return this.service.listRepositories(request);
  }

  @Rpc(ListReferrers)
  listReferrers(request: RequestOf<typeof ListReferrers>) {
    return this.service.listReferrers(request);
  }

  @Broadcast(RepositoryChanged)
  repositoryChanged({ repository }: PayloadOfBroadcast<typeof RepositoryChanged>): void {
    this.service.invalidate(repository);
  }
}
