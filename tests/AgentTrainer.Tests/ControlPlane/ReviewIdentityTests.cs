using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AgentTrainer.Agents.Storage;
using AgentTrainer.ControlPlane.Security;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Service.People;
using AgentTrainer.Service.Store;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>Where people have tokens of their own (as under <c>serve</c>), a review on the run's own API is recorded
/// under the token's person: bob cannot approve as alice by typing her name.</summary>
public sealed class ReviewIdentityTests : IDisposable
{
    private readonly string _folder = TestFolders.Create("review-identity");

    public void Dispose() => TestFolders.Delete(_folder);

    [Fact]
    public async Task A_persons_token_decides_as_that_person_and_a_typed_other_name_is_refused_with_nothing_changed()
    {
        using ServiceStore store = ServiceStore.Open("", Path.Combine(_folder, "people.db"));
        var people = new PersonTokens(store, TimeProvider.System);
        (string bob, _) = people.Create("bob", PersonRole.Reviewer, "admin");
        using var host = new ControlPlaneFactory(configure: web => web.Services.AddSingleton<IPersonDirectory>(people));
        ReviewQueue reviews = host.Run.Agent!.Reviews;
        string Add(string id)
        {
            reviews.Add(new Proposal
            {
                Id = id, Action = InterventionAction.HalveLearningRate, Reason = "noisy", Source = CommandSource.Agent,
                BasedOnStep = 0, BasedOnBranch = 0,
            }, new GateDecision(Verdict.Review, "approval.required_for", "a person decides"), "summary", TimeSpan.FromHours(1));
            return id;
        }
        using HttpClient asBob = host.CreateClient();
        asBob.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bob);
        StringContent Body(string json) => new(json, Encoding.UTF8, "application/json");

        string first = Add("p-1");
        using HttpResponseMessage impersonated = await asBob.PostAsync($"/api/reviews/{first}/approve",
            Body("""{"reviewer":"alice","comment":"as alice"}"""));
        Assert.Equal(HttpStatusCode.Forbidden, impersonated.StatusCode);
        Assert.Contains("this token is bob's", await impersonated.Content.ReadAsStringAsync());
        Assert.Equal((ReviewStatus.AwaitingReview, null), (reviews.List().Single().Status, reviews.List().Single().Reviewer));

        // Named by the token alone, or by their own name: recorded as bob.
        using HttpResponseMessage approved = await asBob.PostAsync($"/api/reviews/{first}/approve", Body("""{"comment":"ok"}"""));
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal("bob", (await approved.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reviewer").GetString());
        string second = Add("p-2");
        using HttpResponseMessage rejected = await asBob.PostAsync($"/api/reviews/{second}/reject", Body("""{"reviewer":"bob"}"""));
        Assert.Equal(HttpStatusCode.OK, rejected.StatusCode);
        Assert.All(reviews.List(), item => Assert.Equal("bob", item.Reviewer));
    }
}
