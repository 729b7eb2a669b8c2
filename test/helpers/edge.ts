// nginx with the shipped edge configuration, shared with bench:edge.
export * from '../../scripts/lib/edge.js';
