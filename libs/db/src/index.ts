export * from './lib/database';
export * from './lib/migrations';
export { Prisma, PrismaClient } from './generated/client';
