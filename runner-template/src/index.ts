export * from './errors.ts';
export { manifestText, PINNED_DEPENDENCIES, render } from './render.ts';
export {
  formatPath,
  type Manifest,
  type ManifestInput,
  manifestOf,
  manifestSchema,
  parseManifest,
  parseServerSpec,
  type ServerSpec,
  type ServerSpecInput,
  type ServerTool,
  serverSpecSchema,
  type ToolAnnotations,
  type ToolSpec,
  toolSpecSchema,
  validateManifest,
} from './spec.ts';
export { type HttpJsonOptions, renderTemplate, type Template, templates } from './templates/index.ts';
