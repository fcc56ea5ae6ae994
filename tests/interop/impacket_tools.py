"""impacket's answers for the msrpc tools comparison (run-tools.sh): shares (srvs), users and groups
(samr), lookupsid (lsat/lsad) over smbd's named pipes, as one JSON object of sorted name lists."""
import os, sys, json
from impacket.dcerpc.v5 import transport, srvs, samr, lsat, lsad
from impacket.dcerpc.v5.dtypes import MAXIMUM_ALLOWED, RPC_SID
port, pw = int(sys.argv[1]), os.environ["MSRPC_TEST_PASSWORD"]
def dce(pipe, uuid):
    t = transport.DCERPCTransportFactory(r'ncacn_np:127.0.0.1[\pipe\%s]' % pipe)
    t.set_dport(port); t.set_credentials('msrpc', pw, '', '')
    d = t.get_dce_rpc(); d.connect(); d.bind(uuid); return d
out = {}
d = dce('srvsvc', srvs.MSRPC_UUID_SRVS)
r = srvs.hNetrShareEnum(d, 1)
out['shares'] = sorted(s['shi1_netname'][:-1] for s in r['InfoStruct']['ShareInfo']['Level1']['Buffer'])
d = dce('samr', samr.MSRPC_UUID_SAMR)
h = samr.hSamrConnect(d)['ServerHandle']
doms = [x['Name'] for x in samr.hSamrEnumerateDomainsInSamServer(d, h)['Buffer']['Buffer']]
acct = [x for x in doms if x.lower() != 'builtin'][0]
sid = samr.hSamrLookupDomainInSamServer(d, h, acct)['DomainId']
dh = samr.hSamrOpenDomain(d, h, domainId=sid)['DomainHandle']
out['users'] = sorted(x['Name'] for x in samr.hSamrEnumerateUsersInDomain(d, dh)['Buffer']['Buffer'] or [])
g = [x['Name'] for x in (samr.hSamrEnumerateGroupsInDomain(d, dh)['Buffer']['Buffer'] or [])]
g += [x['Name'] for x in (samr.hSamrEnumerateAliasesInDomain(d, dh)['Buffer']['Buffer'] or [])]
bsid = samr.hSamrLookupDomainInSamServer(d, h, 'Builtin')['DomainId']
bh = samr.hSamrOpenDomain(d, h, domainId=bsid)['DomainHandle']
g += [x['Name'] for x in (samr.hSamrEnumerateAliasesInDomain(d, bh)['Buffer']['Buffer'] or [])]
out['groups'] = sorted(g)
d = dce('lsarpc', lsat.MSRPC_UUID_LSAT)
ph = lsad.hLsarOpenPolicy2(d, lsat.POLICY_LOOKUP_NAMES | lsad.POLICY_VIEW_LOCAL_INFORMATION)['PolicyHandle']
dsid = lsad.hLsarQueryInformationPolicy(d, ph, lsad.POLICY_INFORMATION_CLASS.PolicyAccountDomainInformation)['PolicyInformation']['PolicyAccountDomainInfo']['DomainSid'].formatCanonical()
names = []
for start in range(500, 4001, 250):
    sids = ['%s-%d' % (dsid, r) for r in range(start, min(start + 250, 4001))]
    try:
        resp = lsat.hLsarLookupSids(d, ph, sids, lsat.LSAP_LOOKUP_LEVEL.LsapLookupWksta)
    except Exception as e:
        if 'STATUS_NONE_MAPPED' in str(e): continue
        if 'STATUS_SOME_NOT_MAPPED' in str(e): resp = e.get_packet()
        else: raise
    for n in resp['TranslatedNames']['Names']:
        if n['Use'] != 8: names.append(n['Name'])
out['lookupsid'] = sorted(names)
from impacket.dcerpc.v5 import scmr, rrp
d = dce('svcctl', scmr.MSRPC_UUID_SCMR)
sc = scmr.hROpenSCManagerW(d, dwDesiredAccess=scmr.SC_MANAGER_CONNECT | scmr.SC_MANAGER_ENUMERATE_SERVICE)['lpScHandle']
svcs = scmr.hREnumServicesStatusW(d, sc, scmr.SERVICE_WIN32_OWN_PROCESS | scmr.SERVICE_WIN32_SHARE_PROCESS, scmr.SERVICE_STATE_ALL)
out['services'] = sorted(s['lpServiceName'][:-1] for s in svcs)
d = dce('winreg', rrp.MSRPC_UUID_RRP)
hk = rrp.hOpenLocalMachine(d)['phKey']
key = rrp.hBaseRegOpenKey(d, hk, 'SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\x00', samDesired=rrp.KEY_READ)['phkResult']
regnames = []
i = 0
while True:
    try:
        regnames.append(rrp.hBaseRegEnumKey(d, key, i)['lpNameOut'][:-1]); i += 1
    except rrp.DCERPCSessionError as e:
        if e.get_error_code() == 259: break
        raise
i = 0
while True:
    try:
        regnames.append(rrp.hBaseRegEnumValue(d, key, i)['lpValueNameOut'][:-1]); i += 1
    except rrp.DCERPCSessionError as e:
        if e.get_error_code() == 259: break
        raise
out['reg'] = sorted(regnames)
print(json.dumps(out))
