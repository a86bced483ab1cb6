export * from './lib/database';
export * from './lib/database.provider';
export * from './lib/migrations';
export { Prisma, PrismaClient } from './generated/client';
