export * from './lib/berth.config';
