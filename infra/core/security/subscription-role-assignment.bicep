// One role assignment on a whole subscription (the deployment's scope). Called only from app/rbac.bicep, for the
// fleet reader role on each subscription whose VMs may run the images: ARM deploys an assignment on another
// subscription only from a deployment at that subscription, hence a module.

targetScope = 'subscription'

@description('Object (principal) id that receives the role.')
param principalId string

@description('Type of the principal.')
@allowed(['ServicePrincipal', 'User', 'Group'])
param principalType string = 'ServicePrincipal'

@description('Name (GUID) of the role definition: its id is built in this subscription, as ARM expects for an assignment here.')
param roleDefinitionName string

// Not named `description`: a parameter of that name would hide the @description decorator.
@description('Why the principal holds this role (shown in the portal).')
param assignmentDescription string = ''

var roleDefinitionId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)

resource onSubscription 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleDefinitionId)
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: roleDefinitionId
    description: assignmentDescription
  }
}
