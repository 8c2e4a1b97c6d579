// PLACEHOLDER until the schema files land: replaced by the kinds registry.
import type { KindSchema } from './kit.js';

export const KINDS: readonly KindSchema[] = [];

export function findKind(apiVersion: string, kind: string): KindSchema | undefined {
  return KINDS.find((k) => k.kind === kind && k.versions.some((v) => `${k.group}/${v}` === apiVersion));
}
