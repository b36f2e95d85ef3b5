import type { Router } from 'express';

/** One route an express router serves: its method (lower case) and its path (`/servers/:name`). */
export interface Route {
  method: string;
  path: string;
}

interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: RouteLayer[] };
}

/** Every (method, path) of an express router, nested routers included, in the order they are registered. */
export function routesOf(router: Router): Route[] {
  const walk = (stack: RouteLayer[]): Route[] =>
    stack.flatMap((layer) => {
      const route = layer.route;
      if (route) return Object.keys(route.methods).map((method) => ({ method, path: route.path }));
      return layer.handle?.stack ? walk(layer.handle.stack) : [];
    });
  return walk((router as unknown as { stack: RouteLayer[] }).stack);
}

/** An express path in OpenAPI's words: `/servers/:name` is `/servers/{name}`. */
export const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');
