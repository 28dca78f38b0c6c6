package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// ScheduleID names the Temporal Schedule that takes backups.
const ScheduleID = "qlp-backup"

// WorkflowName and ActivityName are the registered names.
const (
	WorkflowName = "BackupWorkflow"
	ActivityName = "CreateBackup"
)

// Metrics are the backup gauges the alert rule QLPBackupTooOld reads.
type Metrics struct {
	last     prometheus.Gauge
	interval prometheus.Gauge
	duration prometheus.Gauge
	failures prometheus.Counter
}

// NewMetrics registers the backup metrics.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		last: prometheus.NewGauge(prometheus.GaugeOpts{Name: "qlp_backup_last_success_timestamp_seconds",
			Help: "Unix time of the newest backup in the blob store (or of when backups were scheduled, until the first one)."}),
		interval: prometheus.NewGauge(prometheus.GaugeOpts{Name: "qlp_backup_interval_seconds",
			Help: "Configured interval between backups (backup.interval)."}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "qlp_backup_last_duration_seconds",
			Help: "How long the last successful backup took."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "qlp_backup_failures_total",
			Help: "Backups that failed."}),
	}
	for _, c := range []prometheus.Collector{m.last, m.interval, m.duration, m.failures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("backup: register metrics: %w", err)
		}
	}
	return m, nil
}

// Succeeded records a successful backup.
func (m *Metrics) Succeeded(at time.Time, took time.Duration) {
	m.last.Set(float64(at.Unix()))
	m.duration.Set(took.Seconds())
}

// Workflow takes one backup through the CreateBackup activity: a failed
// attempt (the store or the blob store away) is retried with backoff.
func Workflow(ctx workflow.Context) (Manifest, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Minute, BackoffCoefficient: 2,
			MaximumInterval: 30 * time.Minute, MaximumAttempts: 4},
	})
	var m Manifest
	err := workflow.ExecuteActivity(ctx, ActivityName).Get(ctx, &m)
	return m, err
}

// Register puts the backup workflow and its activity on w.
func (s *Service) Register(w worker.Worker) {
	w.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	w.RegisterActivityWithOptions(func(ctx context.Context) (Manifest, error) {
		m, err := s.Create(ctx)
		if err != nil {
			return m, err
		}
		// The manifest's list of entries can be long; the workflow's
		// history keeps the summary.
		m.Entries = nil
		return m, nil
	}, activity.RegisterOptions{Name: ActivityName})
}

// Schedule makes (or updates) the Temporal Schedule that runs the backup
// workflow every backup.interval on taskQueue, and sets the metrics from
// the newest stored backup so that the alert survives restarts. With no
// interval, or no key, it deletes the schedule if there is one.
func (s *Service) Schedule(ctx context.Context, c client.Client, taskQueue string) error {
	sc := c.ScheduleClient()
	if s.cfg.Interval == 0 || !s.cfg.HasKey() {
		err := sc.GetHandle(ctx, ScheduleID).Delete(ctx)
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("backup: delete the backup schedule: %w", err)
		}
		return nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: s.cfg.Interval}}}
	action := &client.ScheduleWorkflowAction{ID: "qlp-backup", Workflow: WorkflowName, TaskQueue: taskQueue,
		WorkflowExecutionTimeout: 6 * time.Hour}
	_, err := sc.Create(ctx, client.ScheduleOptions{ID: ScheduleID, Spec: spec, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP}) // one backup at a time
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = sc.GetHandle(ctx, ScheduleID).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				sch := in.Description.Schedule
				sch.Spec = &spec
				sch.Action = action
				return &client.ScheduleUpdate{Schedule: &sch}, nil
			},
		})
	}
	if err != nil {
		return fmt.Errorf("backup: schedule backups every %s: %w", s.cfg.Interval, err)
	}
	if m := s.d.Metrics; m != nil {
		// Until a first backup, the schedule's creation stands for the
		// last success: restarting a worker does not move it, so backups
		// that never succeed still raise the alert.
		m.interval.Set(s.cfg.Interval.Seconds())
		since := time.Now()
		if d, err := sc.GetHandle(ctx, ScheduleID).Describe(ctx); err == nil && !d.Info.CreatedAt.IsZero() {
			since = d.Info.CreatedAt
		}
		m.last.Set(float64(since.Unix()))
		if all, err := s.List(ctx); err == nil && len(all) > 0 {
			m.last.Set(float64(all[0].CreatedAt.Unix()))
		}
	}
	return nil
}
