import { createHash, randomBytes } from 'node:crypto';

/** Who may sign up without an invitation: anyone (`open`) or nobody (`invite`, the default). */
export type SignupMode = 'open' | 'invite';

/** SHA-256 of an invitation token (only the hash is stored). */
export const hashInvitation = (token: string) => createHash('sha256').update(token).digest('hex');

/** A new invitation token (shown once). */
export const newInvitationToken = () => `bmms_inv_${randomBytes(24).toString('base64url')}`;
