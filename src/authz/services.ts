// What the admin routes call in this module.
import type { AdminService } from './admins.ts';
import type { ApprovalGate } from './approvals.ts';
import type { RoleService } from './roles.ts';
import type { TokenService } from './tokens.ts';

export interface AuthzServices {
  admins: AdminService;
  roles: RoleService;
  tokens: TokenService;
  approvals: ApprovalGate;
}
