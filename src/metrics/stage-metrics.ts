// What the stage runtime tells the metrics, as a hook object: the runtime calls these few methods and knows
// nothing of Prometheus (tests pass their own hook). The default writes the glisk_stage_* series of registry.ts.
import { stageClaimed, stageCompleted, stageDuration, stageFailed, stageInFlight } from './registry.js';

/** How a failed attempt ended: scheduled again, or the token is failed for good. */
export type StageFailureOutcome = 'retry' | 'failed';

/** How one unit of work (a token, or a batch) ended: its work returned (its tokens may still fail), or threw. */
export type StageWorkOutcome = 'ok' | 'error';

export type StageMetrics = {
  claimed: (stage: string, tokens: number) => void;
  completed: (stage: string) => void;
  /** `errorClass`: transient | permanent (the stage error's class), or `settled` when the stage wrote it itself. */
  failed: (stage: string, errorClass: string, outcome: StageFailureOutcome) => void;
  /**
   * A unit of `tokens` tokens (one, or a batch) starts: in flight and timed until the answer is called, once,
   * when its work and finishing writes are done, with whether the work returned or threw.
   */
  workStarted: (stage: string, tokens: number) => (outcome: StageWorkOutcome) => void;
};

export const prometheusStageMetrics: StageMetrics = {
  claimed: (stage, tokens) => stageClaimed.inc({ stage }, tokens),
  completed: (stage) => stageCompleted.inc({ stage }),
  failed: (stage, errorClass, outcome) => stageFailed.inc({ stage, error_class: errorClass, outcome }),
  workStarted: (stage, tokens) => {
    stageInFlight.inc({ stage }, tokens);
    const end = stageDuration.startTimer({ stage });
    return (outcome) => {
      end({ outcome });
      stageInFlight.dec({ stage }, tokens);
    };
  },
};
