using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AgentTrainer.ControlPlane.Api;

/// <summary>For endpoints that need the assembled run: until it is (data loading, model building) they
/// answer 503 with a problem saying so, and their handlers take <see cref="ActiveRun.Required"/> as given.</summary>
public static class RunReady
{
    public static RouteHandlerBuilder RequireRun(this RouteHandlerBuilder endpoint) => endpoint
        .AddEndpointFilter((context, next) =>
            context.HttpContext.RequestServices.GetRequiredService<ActiveRun>().Current is null
                ? ValueTask.FromResult<object?>(ApiProblems.NotReady())
                : next(context))
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
}
