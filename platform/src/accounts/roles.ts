import { forbidden } from '../errors.ts';

/** Org roles, strongest first. */
export const ROLES = ['owner', 'admin', 'developer', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** Whether `role` names one of ROLES. */
export const isRole = (role: unknown): role is Role =>
  typeof role === 'string' && (ROLES as readonly string[]).includes(role);

/** What a role may do. Maintainers (owner, admin) may push main directly. */
export type Permission = 'read' | 'write' | 'push_main' | 'admin';

const GRANTS: Record<Role, Permission[]> = {
  owner: ['read', 'write', 'push_main', 'admin'],
  admin: ['read', 'write', 'push_main', 'admin'],
  developer: ['read', 'write'],
  viewer: ['read'],
};

/** Whether `role` grants `permission`; unknown roles grant nothing. */
export function can(role: string, permission: Permission): boolean {
  return (GRANTS as Record<string, Permission[] | undefined>)[role]?.includes(permission) ?? false;
}

/** Throws 403 unless the caller's role grants `permission`. */
export function requirePermission(principal: { role: string }, permission: Permission): void {
  if (!can(principal.role, permission)) {
    throw forbidden(`your role "${principal.role}" may not do this (needs ${permission} permission)`);
  }
}
