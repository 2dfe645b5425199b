import type { z } from 'zod';

/**
 * Just enough introspection of a zod schema to map environment variables and
 * unknown keys onto it: what kind of value lives at a path, and which keys an
 * object allows. Wrappers (default, optional, transforms) are looked through.
 */
export type Kind = 'object' | 'array' | 'record' | 'number' | 'boolean' | 'string' | 'enum' | 'other';

interface Def {
  readonly type: string;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly out?: z.ZodType;
  readonly element?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly shape?: Record<string, z.ZodType>;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch']);

/** The schema that decides the shape of the input: wrappers removed; of a pipe, its input side (or output side after a preprocess). */
export function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    if (WRAPPERS.has(def.type)) current = def.innerType!;
    else if (def.type === 'pipe') current = defOf(def.in!).type === 'transform' ? def.out! : def.in!;
    else return current;
  }
}

export function kindOf(schema: z.ZodType): Kind {
  const type = defOf(unwrap(schema)).type;
  switch (type) {
    case 'object':
    case 'array':
    case 'record':
    case 'number':
    case 'boolean':
    case 'string':
    case 'enum':
      return type;
    default:
      return 'other';
  }
}

/** The keys an object schema allows, with their schemas; undefined when it is not an object. */
export function objectShape(schema: z.ZodType): Readonly<Record<string, z.ZodType>> | undefined {
  const def = defOf(unwrap(schema));
  return def.type === 'object' ? def.shape : undefined;
}

export function arrayElement(schema: z.ZodType): z.ZodType | undefined {
  const def = defOf(unwrap(schema));
  return def.type === 'array' ? def.element : undefined;
}

export function recordValue(schema: z.ZodType): z.ZodType | undefined {
  const def = defOf(unwrap(schema));
  return def.type === 'record' ? def.valueType : undefined;
}

/** Every settable key (a path whose value is not an object), depth first in schema order. */
export function leafPaths(schema: z.ZodType, prefix: readonly string[] = []): string[][] {
  const shape = objectShape(schema);
  if (shape === undefined) return [[...prefix]];
  return Object.entries(shape).flatMap(([key, child]) => leafPaths(child, [...prefix, key]));
}
