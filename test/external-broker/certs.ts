/** A throwaway CA with a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCerts {
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** A CA that signed none of these, to see a server certificate refused. */
  otherCaFile: string;
}

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
// P-256 keys: as good as RSA here and much faster to make
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makeCerts(dir: string): TestCerts {
  const f = (name: string) => join(dir, name);
  const ca = (name: string) => openssl(['req', '-x509', ...newKey, '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '2', '-subj', `/CN=pdm ${name}`]);
  ca('ca');
  ca('other-ca');
  leafCert(dir, 'server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  leafCert(dir, 'client', 'pdm-controller', 'extendedKeyUsage=clientAuth');
  return {
    caFile: f('ca.pem'), serverCertFile: f('server.pem'), serverKeyFile: f('server.key'),
    clientCertFile: f('client.pem'), clientKeyFile: f('client.key'), otherCaFile: f('other-ca.pem'),
  };
}

/**
 * A certificate `<dir>/<name>.pem` with its key `<name>.key`, CN `cn`, signed by the CA `<dir>/<ca>.pem`
 * of makeCerts ("ca" or "other-ca"); `ext` is an openssl extension line.
 */
export function leafCert(dir: string, name: string, cn: string, ext = 'extendedKeyUsage=clientAuth', ca = 'ca'): { certFile: string; keyFile: string } {
  const f = (file: string) => join(dir, file);
  writeFileSync(f(`${name}.ext`), `${ext}\n`);
  openssl(['req', ...newKey, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`]);
  openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${ca}.pem`), '-CAkey', f(`${ca}.key`), '-CAcreateserial', '-out', f(`${name}.pem`),
    '-days', '2', '-extfile', f(`${name}.ext`)]);
  return { certFile: f(`${name}.pem`), keyFile: f(`${name}.key`) };
}
