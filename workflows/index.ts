/** The workflows this project registers with its worker. */
export { accessRequest } from './access-request';
export { reconcileLeases } from './reconcile';
