/* agent_job.h: the jobs on VMs' disks that yund asks of this host (docs/agent-protocol.md, "Jobs"): backups
 * through libvirt's backup API, internal snapshots, reverts, restores from backup files. Each runs in a worker
 * thread with its own hypervisor connection (a backup of a big disk takes minutes, a restore as long), so the
 * loop goes on; the loop starts them from the answer and reports how they go. A job the answer lists as
 * running that this agent does not know was cut short by a restart of the agent: it is undone (the backup job
 * aborted, its checkpoint and file removed) and reported failed, so earlier backups stay as they were and
 * yund restarts the chain with a full backup. Owned by the loop's thread. */
#ifndef YUN_AGENT_AGENT_JOB_H
#define YUN_AGENT_AGENT_JOB_H

#include "hv/hv.h"
#include "proto/proto.h"

typedef struct agent_jobs agent_jobs;

agent_jobs *agent_jobs_new(void);
/* Waits for the jobs under way (stopping an agent waits for them, as for migrations), then frees. */
void agent_jobs_free(agent_jobs *js);
/* Starts the answer's jobs that are new to this agent, forgets those the answer no longer lists and that
 * have ended (their outcome reached yund). Returns how many it started. */
int agent_jobs_reconcile(agent_jobs *js, yun_hv *hv, const proto_answer *a);
/* Every known job's verdict (running, done or failed) into a malloc'd array. */
void agent_jobs_report(agent_jobs *js, proto_job_verdict **out, size_t *n);
/* How many run now; waits until none does (tests). */
int agent_jobs_active(agent_jobs *js);
void agent_jobs_join(agent_jobs *js);

#endif
