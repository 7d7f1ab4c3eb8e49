using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Summaries;

namespace AgentTrainer.Core.Tests;

public class PolicyTests
{
    private static string Shipped(string name) => Path.Combine(AppContext.BaseDirectory, "policies", name);

    private static readonly CheckpointSummary[] Checkpoints =
        [new("ckpt-000100-b0", 100, 0, 2.5), new("ckpt-000500-b0", 500, 0, 2.1), new("ckpt-000900-b0", 900, 0, 2.0)];

    private static GateState State(long step = 1000, long trained = 1000, double lr = 1e-3, int branch = 0) =>
        new(step, branch, trained, lr, lr, Checkpoints, ["hidden1", "hidden2", "output"]);

    private static Proposal Propose(InterventionAction action, long basedOn = 1000, int branch = 0, string? checkpoint = null, string? layer = null,
        CommandSource source = CommandSource.Agent) => new()
    {
        Id = "p1", Action = action, Reason = "test", Source = source, BasedOnStep = basedOn, BasedOnBranch = branch, CheckpointId = checkpoint, Layer = layer,
    };

    [Fact]
    public void Holding_the_run_for_an_action_that_never_waits_for_a_person_is_an_error_naming_it()
    {
        string file = Path.Combine(Path.GetTempPath(), $"hold-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, "name: p\napproval:\n  required_for: [halve_learning_rate]\n  hold_run: [rollback_checkpoint]\n"
            + "  supersede: sometimes\n");
        try
        {
            PolicyException error = Assert.Throws<PolicyException>(() => PolicyLoader.Load(file));
            Assert.Contains("approval.hold_run: rollback_checkpoint never waits for a person", error.Message);
            Assert.Contains("approval.supersede", error.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void TheShippedPolicies_Load()
    {
        Policy unattended = PolicyLoader.Load(Shipped("unattended.yaml"));
        Assert.Equal(("unattended", 1e-5, 1e-2, 40L, 3), (unattended.Name, unattended.MinLearningRate, unattended.MaxLearningRate, unattended.CooldownSteps, unattended.MaxRollbacks));
        Assert.Empty(unattended.ApprovalRequiredFor);
        Assert.Equal(GuardActions.Rollback, unattended.NonFiniteGuard);

        Policy supervised = PolicyLoader.Load(Shipped("supervised.yaml"));
        Assert.Equal(4, supervised.ApprovalRequiredFor.Count);
        Assert.DoesNotContain(InterventionAction.KeepLearningRate, supervised.ApprovalRequiredFor);
        Assert.Equal(TimeSpan.FromHours(1), supervised.ApprovalTimeout);
        Assert.Equal((SupersedeModes.WhenInvalid, 500L), (supervised.Supersede, supervised.RejectionCooldownSteps));
        Assert.Empty(supervised.HoldRunFor); // opt-in: an unattended night must not wait an hour for a person

        Policy research = PolicyLoader.Load(Shipped("research.yaml"));
        Assert.Equal(0, research.CooldownSteps);
        Assert.Equal(1024, research.MaxChangeFactor);
        Assert.Equal((200L, 3), (research.SkipData!.Batches, research.SkipData.MaxPerRun));

        Policy explore = PolicyLoader.Load(Shipped("explore.yaml"));
        Assert.Equal([0.1, 0.3, 1, 3, 10], explore.Explore!.LearningRateFactors);
        Assert.Equal((50L, 3, 1), (explore.Explore.Steps, explore.Explore.MaxRounds, explore.Explore.MaxPerRun));
        Assert.Equal(BranchChoice.Best, explore.Explore.Choose);
        Assert.Null(unattended.Explore);
        Assert.Null(unattended.SkipData);
    }

    [Fact]
    public void ExploreAndSkipData_AreRefusedWhereThePolicyHasNoSection_AndCountedAgainstTheirLimits()
    {
        var gate = new PolicyGate(PolicyLoader.Load(Shipped("unattended.yaml")));
        Assert.Equal("explore", gate.Decide(Propose(InterventionAction.ExploreLearningRate), State()).Rule);
        Assert.Equal("skip_data", gate.Decide(Propose(InterventionAction.SkipData), State()).Rule);

        var research = new PolicyGate(PolicyLoader.Load(Shipped("research.yaml")));
        for (int skip = 0; skip < 3; skip++)
        {
            Assert.Equal(Verdict.Apply, research.Decide(Propose(InterventionAction.SkipData), State()).Verdict);
            research.RecordApplied(Propose(InterventionAction.SkipData), trainedSteps: 1000, step: 1000);
        }
        GateDecision fourth = research.Decide(Propose(InterventionAction.SkipData), State());
        Assert.Equal(("skip_data.max_per_run", "3 skips already; the policy allows 3 per run."), (fourth.Rule, fourth.Reason));
        GateDecision costly = research.Decide(Propose(InterventionAction.ExploreLearningRate),
            State() with { BudgetStepsLeft = 100 });
        Assert.Equal("budget.explore", costly.Rule);
        Assert.Contains("trains 250 steps; the budget has 100 left", costly.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("explore:\n  learning_rate_factors: [2]\n", "explore.learning_rate_factors: explore needs 2 to 8")]
    [InlineData("explore:\n  steps: 0\n", "explore.steps: must be a whole number from 1 to")]
    [InlineData("explore:\n  learning_rate_factors: [1, x]\n", "explore.learning_rate_factors: must be a list of numbers")]
    [InlineData("skip_data:\n  batches: -5\n", "skip_data.batches: must be a whole number from 1 to")]
    [InlineData("skip_data:\n  every: 5\n", "skip_data.every: unknown rule")]
    [InlineData("explore:\n  choose: agent\n", "explore.choose: 'agent' is not one of best, person")]
    public void ABadExploreOrSkipDataSection_IsRefusedWithItsRule(string section, string expected)
    {
        string file = Path.Combine(Path.GetTempPath(), $"policy-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, "name: bad\n" + section);
        try
        {
            PolicyException error = Assert.Throws<PolicyException>(() => PolicyLoader.Load(file));
            Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Errors_NameTheFileTheLineAndTheRule_AllAtOnce()
    {
        const string yaml = """
            name: broken
            learning_rate:
              min: -1
              max: 0.1
            cooldown_step: 10
            approval:
              required_for: [halve_learning_rate, launch_rocket]
            guards:
              non_finite_loss: panic
            """;
        var error = Assert.Throws<PolicyException>(() => PolicyLoader.Parse(yaml, "policies/broken.yaml"));
        string[] lines = error.Message.Split(Environment.NewLine);
        Assert.Contains("policies/broken.yaml:3: learning_rate.min: must be a positive number; got '-1'.", lines);
        Assert.Contains(lines, l => l.StartsWith("policies/broken.yaml:5: cooldown_step: unknown rule; expected one of", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("policies/broken.yaml:7: approval.required_for: 'launch_rocket' is not one of", StringComparison.Ordinal));
        Assert.Contains("policies/broken.yaml:9: guards.non_finite_loss: 'panic' is not one of rollback, halve, none.", lines);
        Assert.Equal(4, lines.Length);
    }

    [Theory]
    [InlineData("timeout_minutes: 1e300", "approval.timeout_minutes: must be a positive number of at most 525600; got '1e300'.")]
    [InlineData("rejection_cooldown_steps: 1e3", "approval.rejection_cooldown_steps: must be a whole number from 0 to")]
    public void A_number_past_what_its_setting_holds_is_refused_not_overflowed(string rule, string expected)
    {
        var error = Assert.Throws<PolicyException>(() => PolicyLoader.Parse($"name: x\napproval:\n  {rule}\n", "x.yaml"));
        Assert.Contains($"x.yaml:3: {expected}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("4294967296")] // 2^32: wrapped to 0 rollbacks
    [InlineData("2147483648")] // 2^31: wrapped to -2147483648
    public void A_count_past_an_ints_range_is_refused_not_wrapped(string count)
    {
        var error = Assert.Throws<PolicyException>(() => PolicyLoader.Parse($"name: x\nrollback:\n  max_per_run: {count}\n", "x.yaml"));
        Assert.Contains($"x.yaml:3: rollback.max_per_run: must be a whole number from 0 to 2147483647; got '{count}'.",
            error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_of_another_kind_named_as_a_policy_is_refused_without_a_word_of_it_quoted()
    {
        string folder = Directory.CreateTempSubdirectory("foreign-policy").FullName;
        try
        {
            string shadow = Path.Combine(folder, "shadow");
            File.WriteAllText(shadow, "root:$y$j9T$secret:19597:0:99999:7:::\n");
            Assert.Equal($"{shadow}: a policy is a .yaml or .yml file.",
                Assert.Throws<PolicyException>(() => PolicyLoader.Load(shadow)).Message);
            // A YAML file of someone else's: its keys and values stay unquoted; the file and line are named.
            string secrets = Path.Combine(folder, "secrets.yaml");
            File.WriteAllText(secrets, "name: x\ndb password: hunter2-secret\napproval:\n  supersede: sk-live-123456789012345678901234567890123456789\n");
            string message = Assert.Throws<PolicyException>(() => PolicyLoader.Load(secrets)).Message;
            Assert.Contains($"{secrets}:2: (not shown): unknown rule", message, StringComparison.Ordinal);
            Assert.Contains($"{secrets}:4: approval.supersede: '(not shown)' is not one of", message, StringComparison.Ordinal);
            Assert.DoesNotContain("hunter2", message, StringComparison.Ordinal);
            Assert.DoesNotContain("sk-live", message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("name: x\nlearning_rate: [1, 2]\n", "x.yaml:2: learning_rate: must be a mapping")]
    [InlineData("name: x\nlearning_rate:\n  min: 0.1\n  max: 0.01\n", "x.yaml:3: learning_rate: min (0.1) must be below max (0.01).")]
    [InlineData("description: no name\n", "x.yaml:1: name: every policy needs a name.")]
    [InlineData("name: x\n  bad: [indent\n", "x.yaml:")]
    public void BadPolicies_AreRefusedWithALine(string yaml, string expected)
    {
        var error = Assert.Throws<PolicyException>(() => PolicyLoader.Parse(yaml, "x.yaml"));
        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Keep_IsAlwaysApplied_AndAWithinBoundsChangeToo()
    {
        var gate = new PolicyGate(PolicyLoader.Load(Shipped("unattended.yaml")));
        Assert.Equal(new GateDecision(Verdict.Apply, "keep", "nothing to change."), gate.Decide(Propose(InterventionAction.KeepLearningRate), State()));
        GateDecision halve = gate.Decide(Propose(InterventionAction.HalveLearningRate), State());
        Assert.Equal((Verdict.Apply, "within_policy"), (halve.Verdict, halve.Rule));
    }

    [Fact]
    public void StaleProposals_AreRefused()
    {
        var gate = new PolicyGate(PolicyLoader.Load(Shipped("unattended.yaml")));
        GateDecision old = gate.Decide(Propose(InterventionAction.HalveLearningRate, basedOn: 950), State(step: 1000));
        Assert.Equal((Verdict.Refuse, "staleness_steps"), (old.Verdict, old.Rule));
        Assert.Contains("based on step 950 of branch 0; the run is at step 1000 of branch 0", old.Reason, StringComparison.Ordinal);
        GateDecision otherBranch = gate.Decide(Propose(InterventionAction.HalveLearningRate, basedOn: 1000, branch: 0), State(branch: 1));
        Assert.Equal("staleness_steps", otherBranch.Rule);
    }

    [Fact]
    public void LearningRateBounds_AndTheWindowFactor_AreEnforced()
    {
        var gate = new PolicyGate(PolicyLoader.Load(Shipped("unattended.yaml")));
        Assert.Equal("learning_rate.max", gate.Decide(Propose(InterventionAction.DoubleLearningRate), State(lr: 6e-3)).Rule);
        Assert.Equal("learning_rate.min", gate.Decide(Propose(InterventionAction.HalveLearningRate), State(lr: 1.5e-5)).Rule);
        // Moving back toward the range is allowed even from outside it (an lr spike of 50x).
        Assert.Equal(Verdict.Apply, gate.Decide(Propose(InterventionAction.HalveLearningRate), State(lr: 5e-2)).Verdict);

        // Three halvings inside 300 trained steps reach the 8x limit; a fourth is refused. Cooldown 40 is respected.
        long trained = 1000;
        double lr = 4e-3;
        for (int i = 0; i < 3; i++, trained += 50, lr /= 2)
        {
            Proposal halve = Propose(InterventionAction.HalveLearningRate, basedOn: trained);
            Assert.Equal(Verdict.Apply, gate.Decide(halve, State(step: trained, trained: trained, lr: lr)).Verdict);
            gate.RecordApplied(halve, trained, step: trained);
        }
        GateDecision fourth = gate.Decide(Propose(InterventionAction.HalveLearningRate, basedOn: trained), State(step: trained, trained: trained, lr: lr));
        Assert.Equal((Verdict.Refuse, "learning_rate.max_change_factor"), (fourth.Verdict, fourth.Rule));
        // Once the window has passed, it is allowed again.
        Assert.Equal(Verdict.Apply, gate.Decide(Propose(InterventionAction.HalveLearningRate, basedOn: trained + 300), State(step: trained + 300, trained: trained + 300, lr: lr)).Verdict);
    }

    [Fact]
    public void TheLrChangesARollbackUndoes_AreThoseAppliedAfterItsCheckpoint()
    {
        var gate = new PolicyGate(PolicyLoader.Load(Shipped("research.yaml")));
        gate.RecordApplied(Propose(InterventionAction.HalveLearningRate), trainedSteps: 150, step: 150);
        gate.RecordApplied(Propose(InterventionAction.HalveLearningRate), trainedSteps: 320, step: 320);
        gate.RecordApplied(Propose(InterventionAction.DoubleLearningRate), trainedSteps: 400, step: 400);
        gate.RecordApplied(Propose(InterventionAction.KeepLearningRate), trainedSteps: 450, step: 450);
        Assert.Equal(1.0, gate.LearningRateFactorAfter(400));
        Assert.Equal(1.0, gate.LearningRateFactorAfter(300)); // halved, then doubled
        Assert.Equal(0.5, gate.LearningRateFactorAfter(100));
    }

    [Fact]
    public void Cooldown_HoldsTheAgentBack_ButNotAGuard()
    {
        var gate = new PolicyGate(PolicyLoader.Load(Shipped("unattended.yaml")));
        gate.RecordApplied(Propose(InterventionAction.HalveLearningRate), 1000, step: 1000);
        GateDecision soon = gate.Decide(Propose(InterventionAction.HalveLearningRate, basedOn: 1010), State(step: 1010, trained: 1010));
        Assert.Equal((Verdict.Refuse, "cooldown_steps"), (soon.Verdict, soon.Rule));
        Assert.Equal("the last intervention was 10 steps ago; wait 30 more steps.", soon.Reason);
        GateDecision guard = gate.Decide(Propose(InterventionAction.RollbackCheckpoint, basedOn: 1010, checkpoint: "ckpt-000900-b0", source: CommandSource.Guard), State(step: 1010, trained: 1010));
        Assert.Equal(Verdict.Apply, guard.Verdict);
    }

    [Fact]
    public void Rollbacks_AreLimitedInNumberAndDepth_AndMustNameAKnownCheckpoint()
    {
        var gate = new PolicyGate(PolicyLoader.Load(Shipped("unattended.yaml")));
        Assert.Equal("rollback.max_depth_steps", gate.Decide(Propose(InterventionAction.RollbackCheckpoint, checkpoint: "ckpt-000100-b0"), State()).Rule);
        Assert.Equal("rollback.checkpoint", gate.Decide(Propose(InterventionAction.RollbackCheckpoint, checkpoint: "ckpt-000777-b0"), State()).Rule);
        for (int i = 0; i < 3; i++)
        {
            gate.RecordApplied(Propose(InterventionAction.RollbackCheckpoint, checkpoint: "ckpt-000900-b0"), 1000 + (100 * i), step: 900);
        }
        GateDecision fourth = gate.Decide(Propose(InterventionAction.RollbackCheckpoint, basedOn: 1000, checkpoint: "ckpt-000900-b0"), State(trained: 2000));
        Assert.Equal(("rollback.max_per_run", "3 rollbacks already; the policy allows 3 per run."), (fourth.Rule, fourth.Reason));
    }

    [Fact]
    public void ResettableLayers_FollowTheGlobs()
    {
        Policy policy = PolicyLoader.Parse("name: narrow\nreset_layer:\n  allowed: [\"hidden*\"]\n", "narrow.yaml");
        var gate = new PolicyGate(policy);
        Assert.Equal(Verdict.Apply, gate.Decide(Propose(InterventionAction.ResetLayer, layer: "hidden2"), State()).Verdict);
        Assert.Equal("reset_layer.allowed", gate.Decide(Propose(InterventionAction.ResetLayer, layer: "output"), State()).Rule);
        Assert.Equal("reset_layer.layer", gate.Decide(Propose(InterventionAction.ResetLayer, layer: "decoder"), State()).Rule);
        Assert.Equal(["hidden1", "hidden2"], gate.Limits(State()).ResettableLayers);
    }

    [Fact]
    public void Supervised_SendsChangesToReview_AndAnApprovalIsCheckedAgain()
    {
        var gate = new PolicyGate(PolicyLoader.Load(Shipped("supervised.yaml")));
        GateDecision review = gate.Decide(Propose(InterventionAction.HalveLearningRate), State());
        Assert.Equal((Verdict.Review, "approval.required_for"), (review.Verdict, review.Rule));
        Assert.Equal(Verdict.Apply, gate.Decide(Propose(InterventionAction.KeepLearningRate), State()).Verdict);

        GateDecision approved = gate.Decide(Propose(InterventionAction.HalveLearningRate), State(step: 1050), Approval.Approved);
        Assert.Equal((Verdict.Apply, "approval.required_for"), (approved.Verdict, approved.Rule));
        GateDecision tooLate = gate.Decide(Propose(InterventionAction.HalveLearningRate), State(step: 1300), Approval.Approved);
        Assert.Equal((Verdict.Refuse, "staleness_steps"), (tooLate.Verdict, tooLate.Rule));
    }

    [Fact]
    public void An_approved_rollback_is_pinned_by_its_checkpoint_valid_long_after_while_that_checkpoint_exists()
    {
        var gate = new PolicyGate(PolicyLoader.Load(Shipped("supervised.yaml")));
        Proposal rollback = Propose(InterventionAction.RollbackCheckpoint, basedOn: 1000, checkpoint: "ckpt-000900-b0");

        Assert.Equal(Verdict.Apply, gate.Decide(rollback, State(step: 1600, trained: 1600), Approval.Approved).Verdict);
        Assert.Equal("staleness_steps", gate.Decide(rollback, State(step: 1600, trained: 1600)).Rule); // not approved
        GateDecision gone = gate.Decide(rollback with { CheckpointId = "ckpt-000950-b0" }, State(step: 1600), Approval.Approved);
        Assert.Equal((Verdict.Refuse, "rollback.checkpoint"), (gone.Verdict, gone.Rule));
    }

    [Fact]
    public void An_approval_from_before_a_restart_is_judged_as_its_approver_saw_the_run_not_against_the_rewound_step()
    {
        var gate = new PolicyGate(PolicyLoader.Load(Shipped("supervised.yaml")));
        // Approved at step 1000; the restarted run resumed from a checkpoint at step 100.
        GateDecision halve = gate.Decide(Propose(InterventionAction.HalveLearningRate, basedOn: 1000), State(step: 100), Approval.ApprovedBeforeRestart);
        Assert.Equal(Verdict.Apply, halve.Verdict);
        Assert.Equal("staleness_steps", gate.Decide(Propose(InterventionAction.HalveLearningRate, basedOn: 1000), State(step: 100), Approval.Approved).Rule);

        // A rollback to a checkpoint that went with the killed process is refused, saying so.
        GateDecision lost = gate.Decide(Propose(InterventionAction.RollbackCheckpoint, basedOn: 1000, checkpoint: "ckpt-000950-b0"), State(step: 100),
            Approval.ApprovedBeforeRestart);
        Assert.Equal((Verdict.Refuse, "rollback.checkpoint"), (lost.Verdict, lost.Rule));
        Assert.Contains("kept in memory only, and went with the process that held it", lost.Reason, StringComparison.Ordinal);
        // One still on disk is applied; its depth is measured from where the approver saw the run.
        GateDecision kept = gate.Decide(Propose(InterventionAction.RollbackCheckpoint, basedOn: 1000, checkpoint: "ckpt-000900-b0"), State(step: 100),
            Approval.ApprovedBeforeRestart);
        Assert.Equal(Verdict.Apply, kept.Verdict);
    }

    [Fact]
    public void Rollbacks_of_earlier_sessions_count_against_the_policys_limit()
    {
        var gate = new PolicyGate(PolicyLoader.Load(Shipped("unattended.yaml"))); // max_per_run: 3
        Proposal rollback = Propose(InterventionAction.RollbackCheckpoint, checkpoint: "ckpt-000900-b0");
        Assert.Equal(Verdict.Apply, gate.Decide(rollback, State()).Verdict);
        gate.RecordEarlierRollbacks(3, startOvers: 0);
        GateDecision refused = gate.Decide(rollback, State());
        Assert.Equal((Verdict.Refuse, "rollback.max_per_run"), (refused.Verdict, refused.Rule));
        Assert.Contains("3 rollbacks already", refused.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("name: x\nlearning_rate:\n  min: [1, 2\n", ":4: not valid YAML")]
    [InlineData("name: x\n? [a, b]\n: 3\n", ":2: a rule's name must be a plain word")]
    [InlineData("name: x\nrollback:\n  ? {a: 1}\n  : 3\n", ":3: rollback: a rule's name must be a plain word")]
    public void Malformed_YAML_is_a_policy_error_naming_the_line_not_a_crash(string yaml, string expected)
    {
        var error = Assert.Throws<PolicyException>(() => PolicyLoader.Parse(yaml, "p.yaml"));
        Assert.Contains("p.yaml" + expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_policy_that_is_a_device_or_a_folder_is_refused_without_reading_it_whole()
    {
        string folder = Directory.CreateTempSubdirectory("device-policy").FullName;
        try
        {
            string zero = Path.Combine(folder, "zero.yaml");
            File.CreateSymbolicLink(zero, "/dev/zero");
            Assert.Contains($"{zero}: is larger than a settings file may be", Assert.Throws<PolicyException>(() => PolicyLoader.Load(zero)).Message,
                StringComparison.Ordinal);
            string named = Directory.CreateDirectory(Path.Combine(folder, "folder.yaml")).FullName;
            Assert.Contains("is a folder", Assert.Throws<PolicyException>(() => PolicyLoader.Load(named)).Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true); // the link, not /dev/zero
        }
    }
}

/// <summary>The invariants that bind every agent (rules, an LLM, a replay) in one table: no rollback to a model
/// worse than the run's best, starting over bounded, and a budget a rollback must be able to pay.</summary>
public class GateInvariantTests
{
    private static readonly Policy Unattended = PolicyLoader.Load(Path.Combine(AppContext.BaseDirectory, "policies", "unattended.yaml"));

    /// <summary>The night: branch 1 reached 1.938 at its step 800; ckpt-000200-b0 is the first,
    /// high-lr branch at 2.69; ckpt-000750-b1 is near the best; ckpt-000000-b0 is the start.</summary>
    private static GateState Night(double? current = 1.95, bool nonFinite = false, long budgetLeft = 2000, long step = 800) => new(
        Step: step, Branch: 1, TrainedSteps: 1200, BaseLearningRate: 6e-4, LearningRate: 6e-4,
        Checkpoints:
        [
            new("ckpt-000000-b0", 0, 0, 4.77, 4.77), new("ckpt-000200-b0", 200, 0, 2.69, 2.69),
            new("ckpt-000750-b1", 750, 1, null, 1.967), new("ckpt-000790-b1", 790, 1, null, null),
        ],
        Layers: ["head"], BestValLoss: 1.938, CurrentValLoss: current, RecentNonFinite: nonFinite, BudgetStepsLeft: budgetLeft);

    /// <summary>A rollback proposed on the summary of <paramref name="state"/>, so it is never stale.</summary>
    private static Proposal Rollback(string checkpoint, GateState state) => new()
    {
        Id = "p", Action = InterventionAction.RollbackCheckpoint, Reason = "test", Source = CommandSource.Agent,
        BasedOnStep = state.Step, BasedOnBranch = state.Branch, CheckpointId = checkpoint,
    };

    public static TheoryData<string, string, GateState, Verdict, string> Table => new()
    {
        { "to a checkpoint 39% worse than the best: refused", "ckpt-000200-b0", Night(), Verdict.Refuse, "rollback.max_regression" },
        { "the same under a non-finite loss: allowed", "ckpt-000200-b0", Night(nonFinite: true), Verdict.Apply, "within_policy" },
        { "the same when the present is worse still (diverged): allowed", "ckpt-000200-b0", Night(current: 3.4), Verdict.Apply, "within_policy" },
        { "near the best (1.5% worse): allowed", "ckpt-000750-b1", Night(), Verdict.Apply, "within_policy" },
        { "a checkpoint whose loss nobody measured: refused", "ckpt-000790-b1", Night(), Verdict.Refuse, "rollback.max_regression" },
        { "starting over, the first time: allowed", "ckpt-000000-b0", Night(step: 560), Verdict.Apply, "within_policy" },
        { "starting over with too little budget to get back here: refused", "ckpt-000000-b0", Night(budgetLeft: 600, step: 560), Verdict.Refuse,
            "budget.rollback" },
        { "starting over further back than the policy's depth: refused", "ckpt-000000-b0", Night(), Verdict.Refuse, "rollback.max_depth_steps" },
        { "50 steps back with 54 left: refused", "ckpt-000750-b1", Night(budgetLeft: 54), Verdict.Refuse, "budget.rollback" },
        { "50 steps back with 55 left: allowed", "ckpt-000750-b1", Night(budgetLeft: 55), Verdict.Apply, "within_policy" },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Every_rollback_is_judged_against_the_runs_best_and_its_budget(string because, string checkpoint, GateState state, Verdict verdict, string rule)
    {
        GateDecision decision = new PolicyGate(Unattended).Decide(Rollback(checkpoint, state), state);
        Assert.True((verdict, rule) == (decision.Verdict, decision.Rule), $"{because}: {decision.Verdict} ({decision.Rule}): {decision.Reason}");
    }

    [Fact]
    public void A_refusal_names_the_rule_and_the_numbers()
    {
        GateDecision refused = new PolicyGate(Unattended).Decide(Rollback("ckpt-000200-b0", Night()), Night());
        Assert.Equal("ckpt-000200-b0's validation loss 2.69 is 38.8 % worse than the run's best 1.938 (at most 5 %), and the run is not in trouble "
            + "(no non-finite loss; now 1.95).", refused.Reason);
    }

    [Fact]
    public void Starting_over_twice_is_refused_however_the_first_came_about()
    {
        GateState early = Night(step: 500);
        Proposal startOver = Rollback("ckpt-000000-b0", early);
        var gate = new PolicyGate(Unattended); // max_start_overs: 1
        Assert.Equal(Verdict.Apply, gate.Decide(startOver, early).Verdict);
        gate.RecordApplied(startOver, early.TrainedSteps, early.Step, startOver: true);
        GateState afterCooldown = early with { TrainedSteps = early.TrainedSteps + Unattended.CooldownSteps };
        Assert.Equal("rollback.max_start_overs", gate.Decide(startOver, afterCooldown).Rule);
        Assert.Equal(0, gate.Limits(Night()).StartOversLeft);

        var resumed = new PolicyGate(Unattended); // one in an earlier session counts too
        resumed.RecordEarlierRollbacks(rollbacks: 1, startOvers: 1);
        Assert.Equal("rollback.max_start_overs", resumed.Decide(startOver, early).Rule);
    }
}
